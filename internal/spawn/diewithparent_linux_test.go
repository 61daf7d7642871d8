package spawn_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tuskq/tuskq/internal/spawn"
	"github.com/tuskq/tuskq/internal/testutil"
)

// parentEnv makes the test binary act as the parent process of
// TestChildDiesWithParent: it starts the child and blocks.
const parentEnv = "CHILDPROC_TEST_PARENT_PIDFILE"

// TestMain runs the parent role when asked, the tests otherwise.
func TestMain(m *testing.M) {
	if pidFile := os.Getenv(parentEnv); pidFile != "" {
		os.Exit(actAsParent(pidFile))
	}
	os.Exit(m.Run())
}

// actAsParent starts sleep with DieWithParent, writes its pid to pidFile
// and waits to be killed (it returns only should the child die first).
func actAsParent(pidFile string) int {
	p, err := spawn.Start(spawn.Options{
		Name: "sleeper", Path: "/bin/sleep", Args: []string{"300"},
		Log: pidFile + ".log", DieWithParent: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp := pidFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(p.Pid())), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.Rename(tmp, pidFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-p.Done() // killed first, normally
	return 1
}

// alive reports whether pid runs (a zombie, dead but not yet reaped by
// whoever adopted it, counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// A child started with DieWithParent is gone soon after its parent is
// killed with SIGKILL, which gives the parent no chance to stop it.
func TestChildDiesWithParent(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), parentEnv+"="+pidFile)
	var stderr strings.Builder
	parent.Stderr = &stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })
	var child int
	testutil.Poll(t, waitFor, "the parent to write its child's pid", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		child, err = strconv.Atoi(string(b))
		return err == nil
	})
	t.Cleanup(func() {
		if alive(child) {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
	})
	if !alive(child) {
		t.Fatalf("child %d is not running before its parent is killed; parent stderr: %s", child, stderr.String())
	}
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := parent.Wait(); !errors.As(err, &ee) {
		t.Fatalf("parent: %v; want killed", err)
	}
	testutil.Poll(t, waitFor, fmt.Sprintf("child %d to die with its parent", child), func() bool { return !alive(child) })
}
