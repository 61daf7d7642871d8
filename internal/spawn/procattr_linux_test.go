package spawn

import (
	"syscall"
	"testing"
)

func TestSysProcAttrLinux(t *testing.T) {
	t.Parallel()
	if a := sysProcAttr(false, false); a != nil {
		t.Errorf("neither: %+v; want nil", a)
	}
	if a := sysProcAttr(true, false); a == nil || !a.Setpgid || a.Pdeathsig != 0 {
		t.Errorf("group: %+v; want Setpgid only", a)
	}
	if a := sysProcAttr(false, true); a == nil || a.Setpgid || a.Pdeathsig != syscall.SIGTERM {
		t.Errorf("die with parent: %+v; want Pdeathsig SIGTERM only", a)
	}
	if a := sysProcAttr(true, true); a == nil || !a.Setpgid || a.Pdeathsig != syscall.SIGTERM {
		t.Errorf("both: %+v; want Setpgid and Pdeathsig SIGTERM", a)
	}
}
