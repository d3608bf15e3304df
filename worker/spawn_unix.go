//go:build unix && !linux

package worker

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// canPin: these systems have no call that pins a process to a core.
const canPin = false

func pin(cpu int) error {
	return fmt.Errorf("worker: pinning to core %d: not possible on %s", cpu, runtime.GOOS)
}

// childAttr puts a child in its own process group, so that a terminal's
// Ctrl-C reaches the parent alone, which drains the children in order.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// watchParent sends this process SIGTERM once its parent is gone (it has
// been given to another parent), as Linux's parent-death signal does.
func watchParent() {
	ppid := os.Getppid()
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != ppid {
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				return
			}
		}
	}()
}

// terminate asks a child to drain.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
