package subprocess

import "syscall"

// SysProcAttr puts the child in a process group of its own (so KillGroup
// reaches its children too) and has the kernel kill it when the worker
// dies.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
