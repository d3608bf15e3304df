package worker

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// canPin: not offered on Windows.
const canPin = false

func pin(cpu int) error {
	return fmt.Errorf("worker: pinning to core %d: not possible on windows", cpu)
}

// childAttr starts a child in a process group of its own, so that a
// console's Ctrl-C reaches the parent alone, and a Ctrl-Break can be sent
// to the child alone.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
}

// watchParent sends this process's group a Ctrl-Break, which os/signal
// delivers as os.Interrupt, once its parent is gone.
func watchParent() {
	ppid := os.Getppid()
	go func() {
		for range time.Tick(time.Second) {
			h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(ppid))
			if err == nil {
				ev, _ := windows.WaitForSingleObject(h, 0)
				windows.CloseHandle(h)
				if ev != uint32(windows.WAIT_OBJECT_0) {
					continue // still running
				}
			}
			_ = windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(os.Getpid()))
			return
		}
	}()
}

// terminate asks a child to drain: a Ctrl-Break to its process group,
// which os/signal delivers as os.Interrupt.
func terminate(p *os.Process) error {
	return windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(p.Pid))
}
