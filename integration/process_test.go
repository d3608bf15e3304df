package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/bridge"
	"github.com/rabibridge/rabibridge/caller"
	"github.com/rabibridge/rabibridge/internal/testkit/testbroker"
)

// workerProcess is `rabibridge serve-demo` in a process of its own.
type workerProcess struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

// startWorker starts serve-demo and waits until it serves.
func startWorker(t *testing.T, bin, url string, args ...string) *workerProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve-demo", "--url", url}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	p := &workerProcess{cmd: cmd, lines: bufio.NewScanner(out)}
	if !p.lines.Scan() || !strings.HasPrefix(p.lines.Text(), "serving") {
		t.Fatalf("serve-demo did not start serving: %q", p.lines.Text())
	}
	return p
}

// unacked returns the number of calls delivered and not acknowledged on a
// queue of node.
func unacked(t *testing.T, node *testbroker.Node, queue string) int {
	out, err := node.Ctl("list_queues", "name", "messages_unacknowledged")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == queue {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func nodeCaller(t *testing.T, node *testbroker.Node) *caller.Caller {
	t.Helper()
	return dialCaller(t, node.URL())
}

// dialCaller returns a caller on a connection to url, both closed when the
// test ends.
func dialCaller(t *testing.T, url string) *caller.Caller {
	t.Helper()
	conn, err := bridge.Dial(context.Background(), bridge.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := caller.New(conn, caller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestWorkerKilledMidCall: a worker process is SIGKILLed with 20 calls in
// flight; a second worker completes all 20, and every caller gets exactly
// one answer.
func TestWorkerKilledMidCall(t *testing.T) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	bin := buildCLI(t)
	is := is.New(t)
	a := startWorker(t, bin, node.URL())
	c := nodeCaller(t, node)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	answers := make(chan int, 40)
	errs := make(chan error, 40)
	for range 20 {
		wg.Go(func() {
			ms, err := caller.Call[int, int](ctx, c, "sleep", 1500)
			if err != nil {
				errs <- err
				return
			}
			answers <- ms
		})
	}
	for unacked(t, node, "rpc_async_sleep") < 20 { // all 20 are in worker A's hands
		if ctx.Err() != nil {
			t.Fatal("worker A never held the 20 calls")
		}
		time.Sleep(50 * time.Millisecond)
	}
	startWorker(t, bin, node.URL()) // worker B consumes too
	is.NoErr(a.cmd.Process.Signal(syscall.SIGKILL))
	wg.Wait()
	close(answers)
	close(errs)
	for err := range errs {
		t.Errorf("call failed: %v", err)
	}
	n := 0
	for ms := range answers {
		is.Equal(ms, 1500)
		n++
	}
	is.Equal(n, 20) // one answer for every caller
}

// TestSIGTERMDrain: SIGTERM with 100 calls in flight: all 100 are answered
// and the worker exits 0. The calls take 3 s (not 300 ms) so that the
// broker's count, read by rabbitmqctl in about half a second (seconds on a
// loaded machine, where the 100 calls also take longer to publish), can
// confirm all 100 are in the worker's hands when the signal comes.
func TestSIGTERMDrain(t *testing.T) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	bin := buildCLI(t)
	is := is.New(t)
	w := startWorker(t, bin, node.URL(), "--fetch-size", "128")
	c := nodeCaller(t, node)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			ms, err := caller.Call[int, int](ctx, c, "sleep", 3000)
			if err == nil && ms != 3000 {
				t.Errorf("sleep(3000) = %d", ms)
			}
			errs <- err
		})
	}
	for unacked(t, node, "rpc_async_sleep") < 100 {
		if ctx.Err() != nil {
			t.Fatal("the worker never held the 100 calls")
		}
		time.Sleep(20 * time.Millisecond)
	}
	is.NoErr(w.cmd.Process.Signal(syscall.SIGTERM))
	wg.Wait()
	close(errs)
	for err := range errs {
		is.NoErr(err) // answered, not lost
	}
	is.True(w.lines.Scan())
	is.Equal(w.lines.Text(), "drained")
	is.NoErr(w.cmd.Wait()) // exit 0
}

// TestFleetCommands runs two serve-demo processes and asks the fleet with
// `rabibridge list`, `describe` and `docs`.
func TestFleetCommands(t *testing.T) {
	node := testbroker.StartNode(t, testbroker.NodeOptions{})
	bin := buildCLI(t)
	is := is.New(t)
	startWorker(t, bin, node.URL()) // two instances of the demo
	startWorker(t, bin, node.URL())
	c := nodeCaller(t, node)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range 6 {
		_, err := caller.Call[int, int](ctx, c, "fib", 10)
		is.NoErr(err)
	}
	run := func(args ...string) string {
		out, err := exec.CommandContext(ctx, bin, append(args, "--url", node.URL())...).Output()
		is.NoErr(err)
		return string(out)
	}
	list := run("list")
	t.Logf("rabibridge list:\n%s", list)
	rows := map[string][]string{}
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) == 5 {
			rows[f[0]] = f[1:]
		}
	}
	for _, fn := range []string{"add", "echo", "fail", "fib", "sleep"} {
		is.Equal(rows[fn][0], "2") // both instances serve every demo function
	}
	is.Equal(rows["fib"][2], "6") // the calls, summed over the instances
	is.True(strings.Contains(list, "2 instances:"))

	desc := run("describe", "fib")
	is.True(strings.Contains(desc, "fib: served by 2 instances"))
	is.True(strings.Contains(desc, `"type": "integer"`))
	is.True(!strings.Contains(desc, "warning")) // the instances agree

	docs := run("docs", "--format", "asyncapi")
	is.True(strings.Contains(docs, "asyncapi: 3.0.0"))
	is.True(strings.Contains(docs, "rpc_async_fib:"))

	// The schema gate: the live fleet against what it served a moment ago
	// passes; against a file of a function it no longer serves, it fails.
	file := filepath.Join(t.TempDir(), "schemas.json")
	run("schemas", "--out", file)
	is.Equal(run("check", file), "") // nothing changed
	var f struct {
		Functions []map[string]any `json:"functions"`
	}
	b, err := os.ReadFile(file)
	is.NoErr(err)
	is.NoErr(json.Unmarshal(b, &f))
	f.Functions = append(f.Functions, map[string]any{"name": "retired", "kind": "async",
		"request": map[string]any{"type": "integer"}, "response": map[string]any{"type": "integer"}})
	b, _ = json.Marshal(f)
	is.NoErr(os.WriteFile(file, b, 0o644))
	out, err := exec.CommandContext(ctx, bin, "check", file, "--url", node.URL()).Output()
	var ee *exec.ExitError
	is.True(errors.As(err, &ee) && ee.ExitCode() == 10) // a breaking change
	is.Equal(strings.TrimSpace(string(out)), "breaking: retired: function: removed")
}
