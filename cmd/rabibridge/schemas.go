package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/registry"
)

// exitBreaking is check's exit code when a change would break callers.
const exitBreaking = 10

// schemaFile is what `schemas` writes and `check` reads.
type schemaFile struct {
	Functions []registry.Function `json:"functions"`
}

// source is where schemas and check take the functions from: the live
// fleet, or the demo's registry.
type source struct {
	cf       connFlags
	fromDemo *bool
	wait     *time.Duration
}

func (s *source) register(fs interface {
	Bool(string, bool, string) *bool
	Duration(string, time.Duration, string) *time.Duration
}) {
	s.fromDemo = fs.Bool("demo", false, "the demo functions instead of what the live fleet serves")
	s.wait = fs.Duration("wait", time.Second, "how long to collect the live instances' answers")
}

func (s *source) functions(ctx context.Context, stderr io.Writer) ([]registry.Function, error) {
	if *s.fromDemo {
		reg := registry.New()
		if err := demo.Register(reg, demo.Options); err != nil {
			return nil, err
		}
		return reg.Functions(), nil
	}
	ins, err := discover(ctx, &s.cf, *s.wait, stderr)
	if err != nil {
		return nil, err
	}
	fns := fleetFunctions(ins)
	if len(fns) == 0 {
		return nil, &exitError{code: exitNoSuchFunc, err: fmt.Errorf("no live instance answered discovery")}
	}
	return fns, nil
}

func runSchemas(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("schemas", stderr)
	var s source
	s.cf.register(fs)
	s.register(fs)
	out := fs.String("out", "", "write to this file (default: standard output)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fns, err := s.functions(ctx, stderr)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(schemaFile{Functions: fns}, "", "  ")
	if err != nil {
		return err
	}
	return output(*out, stdout, append(b, '\n'))
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("check", stderr)
	var s source
	s.cf.register(fs)
	s.register(fs)
	against := fs.String("against", "", "compare with this schemas file instead of the live fleet")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: rabibridge check FILE [flags]

Compares FILE, written by `+"`rabibridge schemas`"+`, with what the live fleet
serves now (or --against another file, or --demo) and prints every change,
breaking ones first. Exit codes: 0 nothing breaks, 10 a change breaks
callers built on FILE, and those of every command that connects.

flags:
`)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError("want one schemas FILE, got %d arguments", len(pos))
	}
	before, err := readSchemas(pos[0])
	if err != nil {
		return err
	}
	var after []registry.Function
	if *against != "" {
		if after, err = readSchemas(*against); err != nil {
			return err
		}
	} else if after, err = s.functions(ctx, stderr); err != nil {
		return err
	}
	breaking := 0
	for _, c := range registry.Compare(before, after) {
		fmt.Fprintln(stdout, c)
		if c.Breaking {
			breaking++
		}
	}
	if breaking > 0 {
		return &exitError{code: exitBreaking, err: fmt.Errorf("%s would break callers built on %s", count(breaking, "change"), pos[0])}
	}
	return nil
}

func readSchemas(path string) ([]registry.Function, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &exitError{code: exitConfig, err: err}
	}
	var f schemaFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, &exitError{code: exitConfig, err: fmt.Errorf("%s: not a schemas file (rabibridge schemas --out): %w", path, err)}
	}
	return f.Functions, nil
}
