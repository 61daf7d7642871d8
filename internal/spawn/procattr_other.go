//go:build !linux

package spawn

import "syscall"

// sysProcAttr sets Setpgid for group; dieWithParent needs Linux's
// Pdeathsig and is ignored here.
func sysProcAttr(group, _ bool) *syscall.SysProcAttr {
	if !group {
		return nil
	}
	return &syscall.SysProcAttr{Setpgid: true}
}
