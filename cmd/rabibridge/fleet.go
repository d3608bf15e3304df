package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/protocol"
	"github.com/rabibridge/rabibridge/registry"
)

// discover asks the fleet the flags name to describe itself.
func discover(ctx context.Context, cf *connFlags, wait time.Duration, stderr io.Writer) ([]registry.Instance, error) {
	conn, _, err := cf.dial(ctx, os.Getenv, stderr, "WARNING")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c, err := caller.New(conn, cf.callerConfig())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return c.Discover(ctx)
}

// served is one function across the instances that serve it.
type served struct {
	name      string
	instances []registry.Instance
	fns       []registry.FunctionStats
}

func byFunction(ins []registry.Instance) []*served {
	m := map[string]*served{}
	for _, in := range ins {
		for _, f := range in.Functions {
			s := m[f.Name]
			if s == nil {
				s = &served{name: f.Name}
				m[f.Name] = s
			}
			s.instances = append(s.instances, in)
			s.fns = append(s.fns, f)
		}
	}
	out := make([]*served, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("list", stderr)
	var cf connFlags
	cf.register(fs)
	wait := fs.Duration("wait", time.Second, "how long to collect the instances' answers")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	ins, err := discover(ctx, &cf, *wait, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-24s %9s %9s %10s %8s\n", "FUNCTION", "INSTANCES", "IN FLIGHT", "CALLS", "ERRORS")
	for _, s := range byFunction(ins) {
		var inFlight, calls, errs int64
		for _, f := range s.fns {
			inFlight += f.Stats.InFlight
			calls += f.Stats.Calls
			for _, n := range f.Stats.Errors {
				errs += n
			}
		}
		fmt.Fprintf(stdout, "%-24s %9d %9d %10d %8d\n", s.name, len(s.instances), inFlight, calls, errs)
	}
	fmt.Fprintf(stdout, "\n%s", count(len(ins), "instance"))
	if len(ins) > 0 {
		fmt.Fprint(stdout, ":")
	}
	fmt.Fprintln(stdout)
	for _, in := range ins {
		fmt.Fprintf(stdout, "  %s  %s pid %d  v%s  up %v\n", in.ID, in.Host, in.PID, in.Version, time.Since(in.Started).Round(time.Second))
	}
	return nil
}

func runDescribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("describe", stderr)
	var cf connFlags
	cf.register(fs)
	wait := fs.Duration("wait", time.Second, "how long to collect the instances' answers")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("want the name of one function")
	}
	ins, err := discover(ctx, &cf, *wait, stderr)
	if err != nil {
		return err
	}
	for _, s := range byFunction(ins) {
		if s.name != pos[0] {
			continue
		}
		f := s.fns[0].Function
		fmt.Fprintf(stdout, "%s: served by %s\n", f.Name, count(len(s.instances), "instance"))
		if f.Description != "" {
			fmt.Fprintf(stdout, "  %s\n", f.Description)
		}
		fmt.Fprintf(stdout, "  kind %s, queue %s, queue size %d (0: unlimited), fetch size %d, timeout %dms (0: none), validation %v\n",
			f.Kind, protocol.QueueName(f.Kind, f.Name), f.QueueSize, f.FetchSize, f.TimeoutMS, f.Validate)
		if f.OnceTTLMS > 0 {
			fmt.Fprintf(stdout, "  run-once: one run per key, results remembered for %v\n", time.Duration(f.OnceTTLMS)*time.Millisecond)
		}
		for i, other := range s.fns[1:] {
			for _, msg := range verdict(s.instances[0].ID, s.instances[i+1].ID, f, other.Function) {
				fmt.Fprintln(stdout, "  "+msg)
				fmt.Fprintln(stderr, "rabibridge describe: "+msg)
			}
		}
		fmt.Fprintf(stdout, "request schema:\n%s\nresponse schema:\n%s\n", pretty(f.Request), pretty(f.Response))
		return nil
	}
	return &exitError{code: exitNoSuchFunc, err: fmt.Errorf("no live instance serves %q", pos[0])}
}

// verdict says how instance b's description of a function stands with
// instance a's: its options, when they differ, and whether its schemas
// break callers built on a's (registry.Compare).
func verdict(a, b string, fa, fb registry.Function) []string {
	var out []string
	if (fa.OnceTTLMS > 0) != (fb.OnceTTLMS > 0) {
		run, not := a, b
		if fb.OnceTTLMS > 0 {
			run, not = b, a
		}
		out = append(out, fmt.Sprintf("warning: instance %s runs the function once per key, and instance %s does not: calls that %s takes may run twice", run, not, not))
	}
	if fa.QueueSize != fb.QueueSize || fa.TimeoutMS != fb.TimeoutMS || fa.Kind != fb.Kind || fa.FetchSize != fb.FetchSize || fa.Validate != fb.Validate {
		out = append(out, fmt.Sprintf("warning: instance %s disagrees with %s on the options", b, a))
	}
	var breaking, compatible []string
	for _, c := range registry.Compare([]registry.Function{fa}, []registry.Function{fb}) {
		if c.Where == "kind" {
			continue // the options say so
		}
		if c.Breaking {
			breaking = append(breaking, c.Where+": "+c.What)
		} else {
			compatible = append(compatible, c.Where+": "+c.What)
		}
	}
	switch {
	case len(breaking) > 0:
		out = append(out, fmt.Sprintf("warning: instance %s's schemas break callers built on %s's: %s", b, a, strings.Join(breaking, "; ")))
	case len(compatible) > 0:
		out = append(out, fmt.Sprintf("note: instance %s's schemas differ from %s's, compatibly: %s", b, a, strings.Join(compatible, "; ")))
	}
	return out
}

func pretty(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "  ", "  ") != nil {
		return "  " + string(raw)
	}
	return "  " + b.String()
}

// fleetFunctions are the functions the live instances serve, one
// description per name.
func fleetFunctions(ins []registry.Instance) []registry.Function {
	var out []registry.Function
	for _, s := range byFunction(ins) {
		out = append(out, s.fns[0].Function)
	}
	return out
}

// count returns "1 instance", "2 instances".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
