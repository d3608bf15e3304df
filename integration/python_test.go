package integration

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/demo"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
	"github.com/rabibridge/rabibridge/once"
	"github.com/rabibridge/rabibridge/registry"
	"github.com/rabibridge/rabibridge/worker"
)

// python returns a python3 that has msgpack and pika (scripts/python-peer.sh
// installs them), or skips the test; under RABIBRIDGE_REQUIRE_PYTHON=1 (as
// in CI) it fails instead.
func python(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import msgpack, pika").Run() == nil {
			return py
		}
	}
	const why = "no python3 with msgpack and pika: run scripts/python-peer.sh (Debian: apt-get install python3-msgpack python3-pika)"
	if os.Getenv("RABIBRIDGE_REQUIRE_PYTHON") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

// TestPythonCallsGo: a Python RabiBridge client calls Go handlers. Bytes
// stay bytes at any depth, integers up to 64 bits stay exact, positional and
// keyword arguments bind, a run-once function keyed by a keyword argument
// runs once per key; integers past a field's range are refused naming the
// field, a sum past an int64 is refused, times arrive as RFC 3339 text,
// timestamps or null; the peer checks values and Python types.
func TestPythonCallsGo(t *testing.T) {
	py := python(t)
	url := testbroker.URL(t)
	prefix := fmt.Sprintf("py%08x_", rand.Uint32())
	reg := registry.New()
	var charges atomic.Int64
	for _, err := range []error{
		registry.RegisterIn(reg, prefix+"echo", demo.Echo, registry.Options{}),
		registry.RegisterIn(reg, prefix+"add", demo.Add, registry.Options{Validate: true}),
		registry.RegisterIn(reg, prefix+"charge", func(ctx context.Context, p payment) (int64, error) {
			return charges.Add(1), nil
		}, registry.Options{Once: once.NewMemory()}),
		registry.RegisterIn(reg, prefix+"wide", func(_ context.Context, r struct {
			N int64 `json:"n"`
		}) (int64, error) {
			return r.N, nil
		}, registry.Options{}),
		registry.RegisterIn(reg, prefix+"unsigned", func(_ context.Context, r struct {
			U uint64 `json:"u"`
		}) (uint64, error) {
			return r.U, nil
		}, registry.Options{}),
		registry.RegisterIn(reg, prefix+"audit", func(_ context.Context, r struct {
			At time.Time `json:"at"`
		}) (string, error) {
			return r.At.Format(time.RFC3339Nano), nil
		}, registry.Options{}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	serve(t, url, reg)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/peer.py", "call", url, prefix).CombinedOutput()
	if err != nil {
		t.Fatalf("peer.py call: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 21 {
		t.Fatalf("want 21 cases, got:\n%s", out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "ok ") {
			t.Error(l)
		}
	}
}

// TestGoCallsPython: a Go caller calls a Python RabiBridge function, which
// reports what it received and the Python type of each part: []byte arrives
// as bytes, string as str, 64-bit integers as int; and its answer comes
// back to Go with bytes as []byte.
func TestGoCallsPython(t *testing.T) {
	py := python(t)
	url := testbroker.URL(t)
	name := fmt.Sprintf("py%08x_inspect", rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	peer := exec.CommandContext(ctx, py, "testdata/peer.py", "serve", url, name)
	stdout, err := peer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	peer.Stderr = os.Stderr
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Process.Signal(syscall.SIGTERM); _ = peer.Wait() })
	if s := bufio.NewScanner(stdout); !s.Scan() || s.Text() != "ready" {
		t.Fatalf("peer.py serve did not start: %q", s.Text())
	}

	c := dialCaller(t, url)
	arg := map[string]any{"b": []byte{0, 1}, "s": "\x00\x01", "max": uint64(math.MaxUint64), "min": int64(math.MinInt64),
		"l": []any{[]byte{2}, "x"}}
	got, err := c.Invoke(ctx, name, []any{arg}, map[string]any{"k": []byte("kw")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"types": map[string]any{
			"args":   []any{map[string]any{"b": "bytes", "s": "str", "max": "int", "min": "int", "l": []any{"bytes", "str"}}},
			"kwargs": map[string]any{"k": "bytes"},
		},
		"received": map[string]any{"args": []any{arg}, "kwargs": map[string]any{"k": []byte("kw")}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}

	// A reply past the Go result type's range is refused, naming where.
	type echoed struct {
		Received struct {
			Kwargs struct {
				N int8 `json:"n"`
			} `json:"kwargs"`
		} `json:"received"`
	}
	_, err = caller.Call[map[string]any, echoed](ctx, c, name, map[string]any{"n": 300})
	if err == nil || !strings.Contains(err.Error(), "/received/kwargs/n: cannot decode integer 300 into int8: out of range") {
		t.Errorf("a Python reply of 300 into an int8: %v", err)
	}
	r, err := caller.Call[map[string]any, echoed](ctx, c, name, map[string]any{"n": -128})
	if err != nil || r.Received.Kwargs.N != -128 {
		t.Errorf("a Python reply of -128 into an int8: %v, %+v", err, r)
	}

	// A call sent with no reply wanted: the Python worker runs it and
	// publishes its reply to protocol.NoReply, which the broker drops; it
	// serves on.
	for range 3 {
		if err := caller.Send(ctx, c, name, map[string]any{"k": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Invoke(ctx, name, []any{1}, nil); err != nil {
		t.Fatalf("after the sent calls: %v", err)
	}
}

// serve serves reg on url until the test ends.
func serve(t *testing.T, url string, reg *registry.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := bridge.Dial(ctx, bridge.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(conn, reg, worker.Config{})
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; conn.Close() })
	<-w.Ready()
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
}
