package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rabibridge/rabibridge/registry"
)

func TestVerdict(t *testing.T) {
	fn := func(req string, queueSize int) registry.Function {
		return registry.Function{Name: "add", Kind: "async", QueueSize: queueSize,
			Request: json.RawMessage(req), Response: json.RawMessage(`{"type":"integer"}`)}
	}
	once := func(f registry.Function) registry.Function { f.OnceTTLMS = 60_000; return f }
	v1 := fn(`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`, 0)
	v2 := fn(`{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]}`, 0)
	v3 := fn(`{"type":"object","properties":{"a":{"type":"integer"},"c":{"type":"string"}},"required":["a"]}`, 10)
	for _, tc := range []struct {
		a, b registry.Function
		want []string
	}{
		{v1, v1, nil},
		{v1, v2, []string{"warning: instance B's schemas break callers built on A's: request /b: a required field was added"}},
		{v1, v3, []string{"warning: instance B disagrees with A on the options",
			"note: instance B's schemas differ from A's, compatibly: request /c: a field was added"}},
		{once(v1), v1, []string{"warning: instance A runs the function once per key, and instance B does not: calls that B takes may run twice"}},
		{v1, once(v1), []string{"warning: instance B runs the function once per key, and instance A does not: calls that A takes may run twice"}},
		{once(v1), once(v1), nil},
	} {
		if got := verdict("A", "B", tc.a, tc.b); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}
