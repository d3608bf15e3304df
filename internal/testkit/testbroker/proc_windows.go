package testbroker

import (
	"os"
	"syscall"
)

// groupAttr: a node's processes are killed one by one on Windows.
func groupAttr() *syscall.SysProcAttr { return nil }

// killGroup kills p.
func killGroup(p *os.Process) { _ = p.Kill() }
