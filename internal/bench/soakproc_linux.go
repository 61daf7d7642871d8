package bench

import "syscall"

// soakProcAttr asks the kernel to send a soak worker SIGTERM should the
// benchmark die without stopping it.
func soakProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
