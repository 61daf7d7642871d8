// Package spawn runs a program as a child process with its standard
// output and error in a log file, and stops it: SIGTERM, a grace period,
// then SIGKILL. The demo (internal/demo), the soak phase of the benchmark
// (internal/bench) and the fault tests (internal/faults) start their
// worker and monitor processes with it.
//
// It needs a Unix: signals are sent with syscall.Kill.
package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Options describe a child process.
type Options struct {
	// Name names the process in errors, e.g. "worker 1".
	Name string
	// Path is the program and Args its arguments, as for exec.Command.
	Path string
	Args []string
	// Env is the child's environment; nil means the parent's.
	Env []string
	// Log is the file that receives the child's standard output and
	// error. Required. It is truncated unless AppendLog is set.
	Log       string
	AppendLog bool
	// Group puts the child into a process group of its own (Setpgid), so
	// that a terminal's Ctrl-C does not reach it; Signal, Stop and Kill
	// then signal the whole group.
	Group bool
	// DieWithParent asks the kernel to send the child SIGTERM should the
	// parent die without stopping it (Linux only; ignored elsewhere).
	DieWithParent bool
}

// Proc is a running or exited child process.
type Proc struct {
	name  string
	log   string
	group bool
	cmd   *exec.Cmd
	done  chan struct{}
	err   error // Wait's result, set before done is closed
}

// Start starts the child and reaps it in the background.
func Start(o Options) (*Proc, error) {
	if o.Log == "" {
		return nil, errors.New("spawn: Options.Log is empty; pass a log file")
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if o.AppendLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(o.Log, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", o.Name, err)
	}
	cmd := exec.Command(o.Path, o.Args...)
	cmd.Env = o.Env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr(o.Group, o.DieWithParent)
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: start %s: %w", o.Name, o.Path, err)
	}
	p := &Proc{name: o.Name, log: o.Log, group: o.Group, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Name returns Options.Name.
func (p *Proc) Name() string { return p.name }

// LogPath returns Options.Log.
func (p *Proc) LogPath() string { return p.log }

// Pid returns the child's process ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and was reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns how the child exited (exec.Cmd.Wait's error: nil for status
// 0), or nil while it runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Signal sends sig to the child, or to its process group with
// Options.Group, unless it has exited.
func (p *Proc) Signal(sig syscall.Signal) {
	if p.Exited() {
		return
	}
	if p.group {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
		return
	}
	_ = p.cmd.Process.Signal(sig)
}

// WaitOrKill waits up to grace for the child to exit, then sends it
// SIGKILL and waits for the exit. It reports whether it had to kill.
func (p *Proc) WaitOrKill(grace time.Duration) (killed bool) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return false
	case <-t.C:
	}
	p.Kill()
	return true
}

// Stop sends SIGTERM, then WaitOrKill(grace).
func (p *Proc) Stop(grace time.Duration) (killed bool) {
	p.Signal(syscall.SIGTERM)
	return p.WaitOrKill(grace)
}

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Tail returns the last n lines of the child's log, indented; see
// TailFile.
func (p *Proc) Tail(n int) string { return TailFile(p.log, n) }

// tailBytes is how much of the end of a log TailFile reads.
const tailBytes = 64 << 10

// TailFile returns the last n lines of the last 64 KiB of a file, each
// indented by four spaces, for an error message; "    (no log: …)" when
// the file cannot be read.
func TailFile(path string, n int) string {
	b, err := readTail(path, tailBytes)
	if err != nil {
		return "    (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// readTail returns up to the last limit bytes of a file.
func readTail(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(0, fi.Size()-limit)
	b := make([]byte, fi.Size()-off)
	_, err = f.ReadAt(b, off)
	return b, err
}
