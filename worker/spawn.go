package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/rabibridge/rabibridge/internal/backoff"
	"github.com/rabibridge/rabibridge/internal/pause"
)

// Environment variables Spawn sets in each child.
const (
	// EnvChild holds the child's index, 0 to Procs-1; its presence marks a
	// child.
	EnvChild = "RABIBRIDGE_WORKER_INDEX"
	// EnvProcs holds the number of children.
	EnvProcs = "RABIBRIDGE_WORKER_PROCS"
	// EnvCPU holds the core a child is pinned to, with BindCores.
	EnvCPU = "RABIBRIDGE_WORKER_CPU"
)

// SpawnConfig configures Spawn. The zero value is useful.
type SpawnConfig struct {
	// Procs is the number of worker processes; zero means runtime.NumCPU().
	Procs int
	// BindCores pins child i to core i modulo the number of cores.
	BindCores bool
	// RestartMin and RestartMax bound the backoff before a crashed child
	// is started again; zero means 100ms and 10s.
	RestartMin, RestartMax time.Duration
	// StopTimeout bounds how long the parent waits for its children to
	// drain after SIGTERM before it kills them; zero means 40s (a worker's
	// default drain of 30s, and some).
	StopTimeout time.Duration
	// Args are the children's arguments; nil means the parent's own.
	Args []string
	// Stdout and Stderr receive the children's output; nil means the
	// parent's.
	Stdout, Stderr io.Writer
	// Logger receives the supervisor's log lines; nil means slog.Default().
	Logger *slog.Logger
}

// Spawn runs copies of the current program as worker processes, the Go
// counterpart of RabiBridge's multiprocess_spawn_helper.
//
// In a child (EnvChild is set) it pins the process to its core when the
// parent asked for that and returns (true, nil) at once: the child goes on
// to serve. In the parent it starts cfg.Procs children, restarts any that
// crash (with backoff), and when ctx ends asks each to drain (SIGTERM; on
// Windows a Ctrl-Break, which os/signal delivers as os.Interrupt), waits
// for them to drain and exit, and returns (false, nil), or an error if a
// child had to be killed. A child whose parent dies is asked the same:
// Linux's parent-death signal, a check of the parent elsewhere.
//
// BindCores needs Linux; elsewhere Spawn returns an error for it.
//
//	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	if child, err := worker.Spawn(ctx, worker.SpawnConfig{BindCores: true}); err != nil {
//		log.Fatal(err)
//	} else if !child {
//		return // the parent: all children have drained
//	}
//	err := worker.New(conn, registry.Default, worker.Config{}).Serve(ctx)
func Spawn(ctx context.Context, cfg SpawnConfig) (child bool, err error) {
	if _, ok := os.LookupEnv(EnvChild); ok {
		watchParent()
		if c := os.Getenv(EnvCPU); c != "" {
			cpu, err := strconv.Atoi(c)
			if err != nil {
				return true, fmt.Errorf("worker: %s=%q: %w", EnvCPU, c, err)
			}
			if err := pin(cpu); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	return false, supervise(ctx, cfg)
}

type supervisor struct {
	cfg  SpawnConfig
	exe  string
	log  *slog.Logger
	ncpu int
}

func supervise(ctx context.Context, cfg SpawnConfig) error {
	if cfg.BindCores && !canPin {
		return fmt.Errorf("worker: spawn: BindCores: %s has no way to pin a process to a core (Linux has): leave it off here", runtime.GOOS)
	}
	if cfg.Procs <= 0 {
		cfg.Procs = runtime.NumCPU()
	}
	if cfg.RestartMin <= 0 {
		cfg.RestartMin = 100 * time.Millisecond
	}
	if cfg.RestartMax < cfg.RestartMin {
		cfg.RestartMax = 10 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 40 * time.Second
	}
	if cfg.Args == nil {
		cfg.Args = os.Args[1:]
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("worker: spawn: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &supervisor{cfg: cfg, exe: exe, log: log, ncpu: runtime.NumCPU()}
	errs := make([]error, cfg.Procs)
	var wg sync.WaitGroup
	for i := range cfg.Procs {
		wg.Go(func() { errs[i] = s.keep(ctx, i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// keep runs child i, again after each crash, until ctx ends.
func (s *supervisor) keep(ctx context.Context, i int) error {
	b := backoff.New(s.cfg.RestartMin, s.cfg.RestartMax)
	for {
		started := time.Now()
		cmd, err := s.start(i)
		if err != nil {
			return err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if ctx.Err() != nil {
				return nil
			}
			if time.Since(started) > 10*time.Second {
				b.Reset() // it ran well: start the backoff over
			}
			wait := b.Wait()
			s.log.Warn("worker process exited; restarting", "index", i, "pid", cmd.Process.Pid, "error", err, "after", wait)
			if !pause.For(ctx, wait) {
				return nil
			}
		case <-ctx.Done():
			return s.stop(i, cmd, exited)
		}
	}
}

func (s *supervisor) start(i int) (*exec.Cmd, error) {
	cmd := exec.Command(s.exe, s.cfg.Args...)
	cmd.Stdout, cmd.Stderr = s.cfg.Stdout, s.cfg.Stderr
	cmd.Env = append(os.Environ(), EnvChild+"="+strconv.Itoa(i), EnvProcs+"="+strconv.Itoa(s.cfg.Procs))
	if s.cfg.BindCores {
		cmd.Env = append(cmd.Env, EnvCPU+"="+strconv.Itoa(i%s.ncpu))
	}
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("worker: starting worker process %d: %w", i, err)
	}
	s.log.Info("worker process started", "index", i, "pid", cmd.Process.Pid)
	return cmd, nil
}

// stop drains child i: SIGTERM, then SIGKILL after StopTimeout.
func (s *supervisor) stop(i int, cmd *exec.Cmd, exited <-chan error) error {
	if err := terminate(cmd.Process); err != nil {
		s.log.Warn("cannot ask a worker process to drain; killing it at StopTimeout", "index", i, "error", err)
	}
	t := time.NewTimer(s.cfg.StopTimeout)
	defer t.Stop()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("worker: worker process %d: %w", i, err)
		}
		return nil
	case <-t.C:
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("worker: worker process %d did not drain within %v: killed", i, s.cfg.StopTimeout)
	}
}
