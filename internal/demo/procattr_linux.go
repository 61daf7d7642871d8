package demo

import "syscall"

// sysProcAttr puts a child in its own process group, and asks the kernel to
// send it SIGTERM should the demo die without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
