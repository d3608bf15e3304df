// Command rabibridge calls rabibridge functions, serves the demo functions
// and runs the demo.
//
//	rabibridge demo                       serve the demo functions and call each once
//	rabibridge serve-demo --url URL       serve them until SIGINT/SIGTERM
//	rabibridge call add '{"a":1,"b":2}'   call a function, print its result as JSON
//	rabibridge encrypt-password < pw      encrypt a password for a config file
//
// Every command that talks to a broker takes --url and --config.
// Run `rabibridge help` for every command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"demo":             {"serve the demo functions and call each once (RabbitMQ if one answers, else in-process)", runDemo},
	"call":             {"call a function: rabibridge call NAME [JSON]", runCall},
	"serve-demo":       {"serve the demo functions until SIGINT/SIGTERM, then drain", runServeDemo},
	"encrypt-password": {"encrypt a password (read from stdin) for a config file", runEncryptPassword},
	"docs":             {"write Markdown or AsyncAPI 3.0 documents of the live fleet's functions (or --demo)", runDocs},
	"list":             {"list the functions live worker instances serve, with their counts", runList},
	"describe":         {"describe a function: options and schemas, across its live instances", runDescribe},
	"schemas":          {"write the request and response schemas of the live fleet's functions (or --demo), for check", runSchemas},
	"check":            {"compare a schemas file with the live fleet (or another file): exit 10 on a breaking change", runCheck},
	"console":          {"serve a web console of the live fleet: functions, instances, schemas, and (--allow-calls) a form to call them", runConsole},
	"dead":             {"list a function's dead letters; --replay publishes them again, --purge drops them", runDead},
	"bench":            {"measure calls/s and latency of a deployment (--floor: against raw amqp091-go)", runBench},
}

// exitError carries a process exit code with its message.
type exitError struct {
	code int
	err  error
	msg  string // what to print, when not err's own text
}

func (e *exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2 // a command is needed: like any usage error
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "rabibridge: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "rabibridge %s: %v\n", args[0], err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: rabibridge COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `rabibridge COMMAND -h` for a command's flags.")
}

// flags returns a flag set for command name that reports errors to stderr.
func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rabibridge "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
