package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/registry"
)

const want = `1 + 2 = 3
remote error invalid_argument: add: invalid: /a: minimum: got -1, want 0
no such function
`

func runQuickstart(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, url, registry.New(), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestQuickstartInProcess(t *testing.T) { runQuickstart(t, "mem://quickstart") }

// TestQuickstartRabbitMQ runs the quick start against RabbitMQ, in a
// virtual host of its own: its function is the README's "add".
func TestQuickstartRabbitMQ(t *testing.T) { runQuickstart(t, testbroker.VHost(t)) }

// TestREADMEQuotesCode: every Go block of the README is quoted from this
// program or an Example, as it is there, so the README shows code that
// compiles (and, here, runs).
func TestREADMEQuotesCode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	quoted := 0
	for file, want := range map[string]int{"main.go": 4, "../../worker/example_test.go": 1, "../../caller/example_test.go": 1} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		blocks := regexp.MustCompile(`(?s)// README: (\w+)\n(.*?)\n\s*// README: end`).FindAllSubmatch(src, -1)
		if len(blocks) != want {
			t.Fatalf("found %d README blocks in %s, want %d", len(blocks), file, want)
		}
		for _, b := range blocks {
			if !strings.Contains(string(readme), "```go\n"+dedent(string(b[2]))+"\n```") {
				t.Errorf("README.md does not quote the %q block of %s as it is:\n%s", b[1], file, dedent(string(b[2])))
			}
		}
		quoted += len(blocks)
	}
	if n := strings.Count(string(readme), "```go\n"); n != quoted {
		t.Errorf("README.md has %d Go blocks, %d of them quoted from code", n, quoted)
	}
}

// dedent removes the indentation the block's first line has from every
// line.
func dedent(s string) string {
	s = strings.TrimLeft(s, "\n")
	indent := s[:len(s)-len(strings.TrimLeft(s, "\t"))]
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, indent)
	}
	return strings.Join(lines, "\n")
}
