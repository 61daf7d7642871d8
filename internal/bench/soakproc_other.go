//go:build !linux

package bench

import "syscall"

// soakProcAttr is nil on this platform: the soak is skipped anyway (it
// needs Linux's /proc).
func soakProcAttr() *syscall.SysProcAttr { return nil }
