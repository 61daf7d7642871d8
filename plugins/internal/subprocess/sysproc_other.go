//go:build unix && !linux

package subprocess

import "syscall"

// SysProcAttr puts the child in a process group of its own, so KillGroup
// reaches its children too.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
