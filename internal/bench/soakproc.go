package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tuskq/tuskq/internal/spawn"
)

// soakProc is a worker process of the soak, its output in a log file.
type soakProc struct {
	*spawn.Proc
}

// startSoakProc runs the worker binary against the Redis at addr, with an
// environment stripped of TUSKQ_ variables and its output in dir. The
// kernel sends the worker SIGTERM should the benchmark die without
// stopping it.
func startSoakProc(bin, addr, dir string, n int) (*soakProc, error) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TUSKQ_") {
			env = append(env, kv)
		}
	}
	p, err := spawn.Start(spawn.Options{
		Name:          fmt.Sprintf("worker %d", n),
		Path:          bin,
		Args:          []string{"--listen", "127.0.0.1:0"},
		Env:           append(env, "TUSKQ_REDIS_ADDR="+addr),
		Log:           filepath.Join(dir, fmt.Sprintf("worker-%d.log", n)),
		DieWithParent: true,
	})
	if err != nil {
		return nil, err
	}
	return &soakProc{Proc: p}, nil
}

// waitStarted waits for the worker's "worker started" log line.
func (p *soakProc) waitStarted(ctx context.Context) error {
	deadline := time.Now().Add(stopTimeout)
	for {
		b, err := os.ReadFile(p.LogPath())
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name(), err)
		}
		if bytes.Contains(b, []byte(`"msg":"worker started"`)) {
			return nil
		}
		if p.Exited() {
			return p.diedError()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s did not log \"worker started\" within %s; last lines:\n%s", ErrTimeout, p.Name(), stopTimeout, p.Tail(5))
		}
		if err := sleep(ctx, soakPoll); err != nil {
			return err
		}
	}
}

// terminate sends SIGTERM: the worker shuts down gracefully.
func (p *soakProc) terminate() { p.Signal(syscall.SIGTERM) }

// wait waits up to stopTimeout for the exit after terminate, then kills
// the process. It reports a kill or an unsuccessful exit.
func (p *soakProc) wait() error {
	if p.WaitOrKill(stopTimeout) {
		return fmt.Errorf("%w: %s did not stop within %s of SIGTERM and was killed", ErrTimeout, p.Name(), stopTimeout)
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("%s exited: %w; last lines:\n%s", p.Name(), err, p.Tail(5))
	}
	return nil
}

// diedError describes a worker that exited during the run.
func (p *soakProc) diedError() error {
	if err := p.Err(); err != nil {
		return fmt.Errorf("%s exited during the run (%w); last lines:\n%s", p.Name(), err, p.Tail(5))
	}
	return fmt.Errorf("%s exited during the run (status 0); last lines:\n%s", p.Name(), p.Tail(5))
}

// logTails is the end of every worker's log, for an error message.
func logTails(procs []*soakProc) string {
	var b strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&b, "\n  %s, last lines:\n%s", p.Name(), p.Tail(3))
	}
	return b.String()
}
