package spawn

import "syscall"

// sysProcAttr sets Setpgid for group and Pdeathsig SIGTERM for
// dieWithParent; nil when neither is asked for.
func sysProcAttr(group, dieWithParent bool) *syscall.SysProcAttr {
	if !group && !dieWithParent {
		return nil
	}
	a := &syscall.SysProcAttr{Setpgid: group}
	if dieWithParent {
		a.Pdeathsig = syscall.SIGTERM
	}
	return a
}
