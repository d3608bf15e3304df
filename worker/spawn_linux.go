package worker

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// canPin: Linux pins threads to cores (sched_setaffinity).
const canPin = true

// pin binds every thread of this process to cpu; threads made later
// inherit it from the thread that makes them.
func pin(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("worker: pinning to core %d: %w", cpu, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("worker: pinning to core %d: %w", cpu, err)
		}
	}
	return nil
}

// childAttr puts a child in its own process group, so that a terminal's
// Ctrl-C reaches the parent alone, which drains the children in order; the
// kernel sends it SIGTERM if the parent dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// watchParent: the parent-death signal does it.
func watchParent() {}

// terminate asks a child to drain.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
