package spawn_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/spawn"
	"github.com/tuskq/tuskq/internal/testutil"
)

// waitFor bounds every wait of the tests.
const waitFor = 30 * time.Second

// start starts sh -c script with the options, killed when the test ends.
func start(t *testing.T, o spawn.Options, script string) *spawn.Proc {
	t.Helper()
	if o.Name == "" {
		o.Name = "child"
	}
	if o.Log == "" {
		o.Log = filepath.Join(t.TempDir(), "child.log")
	}
	o.Path, o.Args = "/bin/sh", []string{"-c", script}
	p, err := spawn.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// waitLog waits until the child's log contains s.
func waitLog(t *testing.T, p *spawn.Proc, s string) string {
	t.Helper()
	var log string
	testutil.Poll(t, waitFor, p.Name()+" to log "+s, func() bool {
		b, _ := os.ReadFile(p.LogPath())
		log = string(b)
		return strings.Contains(log, s)
	})
	return log
}

// waitDone waits until the child has exited.
func waitDone(t *testing.T, p *spawn.Proc) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(waitFor):
		t.Fatalf("%s did not exit", p.Name())
	}
}

func TestOutputAndExitStatus(t *testing.T) {
	t.Parallel()
	p := start(t, spawn.Options{Env: []string{"GREETING=hello"}}, `echo "$GREETING"; echo oops >&2; exit 3`)
	waitDone(t, p)
	var ee *exec.ExitError
	if err := p.Err(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Err() = %v; want exit status 3", err)
	}
	if !p.Exited() {
		t.Fatal("Exited() = false after Done")
	}
	b, err := os.ReadFile(p.LogPath())
	if err != nil || string(b) != "hello\noops\n" {
		t.Fatalf("log = %q, %v; want stdout and stderr", b, err)
	}
	if got := p.Tail(1); got != "    oops" {
		t.Fatalf("Tail(1) = %q", got)
	}
	if got := p.Tail(5); got != "    hello\n    oops" {
		t.Fatalf("Tail(5) = %q", got)
	}
	p.Kill() // a no-op once exited
	if killed := p.Stop(time.Second); killed {
		t.Fatal("Stop of an exited child reports a kill")
	}
}

func TestStopEndsWithSIGTERM(t *testing.T) {
	t.Parallel()
	p := start(t, spawn.Options{}, `trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	waitLog(t, p, "ready")
	if p.Exited() || p.Err() != nil {
		t.Fatalf("running child: Exited %v, Err %v", p.Exited(), p.Err())
	}
	if killed := p.Stop(waitFor); killed {
		t.Fatal("Stop killed a child that handles SIGTERM")
	}
	if err := p.Err(); err != nil {
		t.Fatalf("Err() = %v; want exit status 0", err)
	}
	if got := p.Tail(1); got != "    got TERM" {
		t.Fatalf("Tail(1) = %q", got)
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	p := start(t, spawn.Options{}, `trap '' TERM; echo ready; exec sleep 60`)
	waitLog(t, p, "ready")
	begin := time.Now()
	if killed := p.Stop(200 * time.Millisecond); !killed {
		t.Fatal("Stop did not report a kill of a child ignoring SIGTERM")
	}
	if took := time.Since(begin); took < 200*time.Millisecond {
		t.Fatalf("Stop returned after %s; want the 200ms grace first", took)
	}
	if err := p.Err(); err == nil || err.Error() != "signal: killed" {
		t.Fatalf("Err() = %v; want signal: killed", err)
	}
}

func TestGroupSignalsTheWholeGroup(t *testing.T) {
	t.Parallel()
	p := start(t, spawn.Options{Group: true}, `sleep 60 & echo "grandchild $!"; wait`)
	log := waitLog(t, p, "grandchild ")
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(log, "grandchild ")))
	if err != nil {
		t.Fatalf("log %q: %v", log, err)
	}
	if pgid, err := syscall.Getpgid(p.Pid()); err != nil || pgid != p.Pid() {
		t.Fatalf("child's process group = %d, %v; want its own (%d)", pgid, err, p.Pid())
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != p.Pid() {
		t.Fatalf("grandchild's process group = %d, %v; want the child's (%d)", pgid, err, p.Pid())
	}
	if killed := p.Stop(waitFor); killed {
		t.Fatal("Stop had to kill")
	}
	testutil.Poll(t, waitFor, "the grandchild to die of the group's SIGTERM", func() bool { return gone(pid) })
}

func TestWithoutGroupOnlyTheChild(t *testing.T) {
	t.Parallel()
	p := start(t, spawn.Options{}, `echo ready; exec sleep 60`)
	waitLog(t, p, "ready")
	if pgid, err := syscall.Getpgid(p.Pid()); err != nil || pgid != syscall.Getpgrp() {
		t.Fatalf("child's process group = %d, %v; want the parent's (%d)", pgid, err, syscall.Getpgrp())
	}
	p.Kill()
	if err := p.Err(); err == nil || err.Error() != "signal: killed" {
		t.Fatalf("Err() after Kill = %v; want signal: killed", err)
	}
}

func TestAppendLog(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "shared.log")
	for _, word := range []string{"one", "two"} {
		waitDone(t, start(t, spawn.Options{Log: log, AppendLog: true}, "echo "+word))
	}
	if b, err := os.ReadFile(log); err != nil || string(b) != "one\ntwo\n" {
		t.Fatalf("appended log = %q, %v", b, err)
	}
	waitDone(t, start(t, spawn.Options{Log: log}, "echo three"))
	if b, err := os.ReadFile(log); err != nil || string(b) != "three\n" {
		t.Fatalf("truncated log = %q, %v", b, err)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		o    spawn.Options
		want string
	}{
		{"no log", spawn.Options{Name: "w", Path: "/bin/true"}, "spawn: Options.Log is empty; pass a log file"},
		{"log dir missing", spawn.Options{Name: "w", Path: "/bin/true", Log: dir + "/no/such/w.log"},
			"w: log file: open " + dir + "/no/such/w.log: no such file or directory"},
		{"no program", spawn.Options{Name: "w", Path: dir + "/missing", Log: dir + "/w.log"},
			"w: start " + dir + "/missing: fork/exec " + dir + "/missing: no such file or directory"},
	} {
		p, err := spawn.Start(tc.o)
		if err == nil {
			p.Kill()
			t.Fatalf("%s: Start succeeded", tc.name)
		}
		if err.Error() != tc.want {
			t.Errorf("%s: error %q; want %q", tc.name, err, tc.want)
		}
	}
}

func TestTailFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if got, want := spawn.TailFile(dir+"/none", 3), "    (no log: open "+dir+"/none: no such file or directory)"; got != want {
		t.Errorf("TailFile of a missing file = %q; want %q", got, want)
	}
	// A long log: only its last 64 KiB are read.
	var b strings.Builder
	for i := range 20000 {
		b.WriteString(strconv.Itoa(i) + "\n")
	}
	path := filepath.Join(dir, "long.log")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := spawn.TailFile(path, 2); got != "    19998\n    19999" {
		t.Errorf("TailFile(2) = %q", got)
	}
}

// gone reports whether pid no longer runs (it does not exist or is a
// zombie waiting for its new parent).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) STATE …
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
