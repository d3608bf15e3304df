package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/rabibridge/rabibridge/worker"
)

// TestMain runs the worker processes of TestSpawn: the test binary is the
// program Spawn starts again.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SPAWN_TEST_DIR"); dir != "" {
		if child, err := worker.Spawn(context.Background(), worker.SpawnConfig{}); child {
			runChild(dir, err)
		}
	}
	os.Exit(m.Run())
}

// TestSpawn runs the test binary itself as the worker processes: each child
// reports its pid and CPU affinity in a file and waits for SIGTERM.
func TestSpawn(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SPAWN_TEST_DIR", dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := worker.Spawn(ctx, worker.SpawnConfig{Procs: 2, BindCores: true, RestartMin: 10 * time.Millisecond,
			StopTimeout: 10 * time.Second, Args: []string{"-test.run=^$"}})
		done <- err
	}()
	is := is.New(t)
	report := func(i int) (pid int, cpus string) {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
			if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
				pid, _ := strconv.Atoi(f[0])
				return pid, f[1]
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("child %d never reported", i)
		return 0, ""
	}
	pid0, cpus0 := report(0)
	pid1, cpus1 := report(1)
	is.Equal(cpus0, "0") // pinned one per core
	is.Equal(cpus1, "1")

	// A crashed child is started again.
	os.Remove(filepath.Join(dir, "0"))
	is.NoErr(syscall.Kill(pid0, syscall.SIGKILL))
	again, _ := report(0)
	is.True(again != pid0)

	cancel() // the parent drains its children
	select {
	case err := <-done:
		is.NoErr(err)
	case <-time.After(20 * time.Second):
		t.Fatal("Spawn did not return after its ctx ended")
	}
	for _, pid := range []int{again, pid1} {
		is.True(syscall.Kill(pid, 0) != nil) // gone
	}
}

// runChild is a worker process of TestSpawn.
func runChild(dir string, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	status, _ := os.ReadFile("/proc/self/status")
	cpus := "?"
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			cpus = strings.TrimSpace(v)
		}
	}
	os.WriteFile(filepath.Join(dir, os.Getenv(worker.EnvChild)), []byte(fmt.Sprintf("%d %s", os.Getpid(), cpus)), 0o644)
	<-term
	os.Exit(0)
}
