package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestDemoInProcess(t *testing.T) {
	is := is.New(t)
	code, out, errOut := runCLI(t, "demo", "--url", "mem://cli-demo")
	is.Equal(code, 0)
	is.Equal(errOut, "")
	for _, want := range []string{
		"using the in-process transport (mem://cli-demo)",
		"echo(5)          = 5",
		"add(a=1, b=2)    = 3",
		"add(1, 2)        = 3",
		"fib(10)          = 55",
		"demo failure",
		"sleep(50)        = 50",
		"add(40, 2)       = 42",
	} {
		is.True(strings.Contains(out, want)) // every demo function printed its result
	}
}

func TestUsage(t *testing.T) {
	is := is.New(t)
	code, out, _ := runCLI(t, "help")
	is.Equal(code, 0)
	is.True(strings.Contains(out, "demo"))
	code, _, errOut := runCLI(t, "nonsense")
	is.Equal(code, 2)
	is.True(strings.Contains(errOut, `unknown command "nonsense"`))
}
