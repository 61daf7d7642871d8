// Package oneshot is the "exec" plugin runtime: each task runs the plugin's
// entry as a new process, for scripts.
//
// The process starts in the plugin directory with the minimal environment
// of plugins.Spec.Env plus the task's metadata:
//
//	TUSKQ_TASK_ID         the asynq task ID
//	TUSKQ_TASK_TYPE       the task type
//	TUSKQ_TASK_QUEUE      the queue it came from
//	TUSKQ_TASK_RETRY      retries so far (0 on the first attempt)
//	TUSKQ_TASK_MAX_RETRY  the retry budget
//	TUSKQ_TASK_DEADLINE   when the attempt must end (RFC 3339)
//	TUSKQ_PLUGIN_CONFIG   the plugin configuration as a JSON object
//	TRACEPARENT           the W3C traceparent of the task (and TRACESTATE)
//
// The payload is its stdin; what it writes on stdout (up to
// Options.MaxOutput) is the task's result; each stderr line is a
// "plugin log" record carrying the task's trace_id.
//
// Exit status: 0 succeeds. ExitRetry (75, EX_TEMPFAIL from sysexits.h)
// fails the attempt and the task is retried with backoff. Any other status
// fails the task without retry (it is archived): the script has judged the
// task, and running it again would give the same answer. A process killed
// by a signal (for example out of memory) is retried. At the task's deadline
// the process and its process group are killed and the task is retried.
// The last stderr lines are in the task's error text.
package oneshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	osexec "os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/waitgroup"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/internal/subprocess"
)

// ExitRetry is the exit status that asks for a retry (EX_TEMPFAIL).
const ExitRetry = 75

// DefaultMaxOutput bounds the result a process may write on stdout.
const DefaultMaxOutput = 16 << 20

// ErrExit is wrapped by the error of a task whose process exited with a
// status other than 0.
var ErrExit = errors.New("plugin process failed")

// Options configures the exec runtime. The zero value uses the defaults.
type Options struct {
	// MaxOutput bounds stdout; a process writing more fails the task
	// without retry. Defaults to DefaultMaxOutput.
	MaxOutput int
}

// Runtime is the exec runtime.
type Runtime struct {
	opts Options
}

var _ plugins.Runtime = (*Runtime)(nil)

// New returns the exec runtime.
func New(opts Options) *Runtime {
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	return &Runtime{opts: opts}
}

// Start checks that the entry is an executable file; nothing runs until a
// task comes.
func (r *Runtime) Start(ctx context.Context, spec plugins.Spec) (plugins.Instance, error) {
	fi, err := os.Stat(spec.Entry)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("entry %s is not executable (mode %04o); run chmod +x on it", spec.Entry, fi.Mode().Perm())
	}
	return &instance{spec: spec, opts: r.opts, sem: make(chan struct{}, spec.Manifest.Limits.MaxConcurrency)}, nil
}

type instance struct {
	spec plugins.Spec
	opts Options
	sem  chan struct{}

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

// Process runs the entry once for t.
func (in *instance) Process(ctx context.Context, t *asynq.Task, meta plugins.Meta) ([]byte, error) {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil, plugins.ErrClosed
	}
	in.inflight.Add(1)
	in.mu.Unlock()
	defer in.inflight.Done()
	select {
	case in.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("all %d process slots stayed busy: %w", cap(in.sem), ctx.Err())
	}
	defer func() { <-in.sem }()
	return in.run(ctx, t, meta)
}

func (in *instance) run(ctx context.Context, t *asynq.Task, meta plugins.Meta) ([]byte, error) {
	cfg, err := json.Marshal(meta.Config)
	if err != nil {
		return nil, fmt.Errorf("encode the plugin configuration: %w", err)
	}
	env := make([]string, 0, len(in.spec.Env)+9)
	env = append(env, in.spec.Env...)
	env = append(env,
		"TUSKQ_TASK_ID="+meta.TaskID,
		"TUSKQ_TASK_TYPE="+t.Type(),
		"TUSKQ_TASK_QUEUE="+meta.Queue,
		"TUSKQ_TASK_RETRY="+strconv.Itoa(meta.Retry),
		"TUSKQ_TASK_MAX_RETRY="+strconv.Itoa(meta.MaxRetry),
		"TUSKQ_PLUGIN_CONFIG="+string(cfg),
	)
	if !meta.Deadline.IsZero() {
		env = append(env, "TUSKQ_TASK_DEADLINE="+meta.Deadline.UTC().Format(time.RFC3339Nano))
	}
	if meta.Traceparent != "" {
		env = append(env, "TRACEPARENT="+meta.Traceparent)
	}
	if ts := meta.Headers["tracestate"]; ts != "" {
		env = append(env, "TRACESTATE="+ts)
	}
	if err := in.spec.CheckEntry(); err != nil {
		return nil, err
	}
	cmd := osexec.Command(in.spec.Entry, in.spec.Manifest.Args...)
	cmd.Dir = in.spec.Dir
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(t.Payload())
	out := &limitedBuffer{limit: in.opts.MaxOutput}
	cmd.Stdout = out
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = errW
	cmd.SysProcAttr = subprocess.SysProcAttr()
	cmd.WaitDelay = time.Second // a descendant that left the group may hold stdout
	err = cmd.Start()
	errW.Close()
	if err != nil {
		errR.Close()
		return nil, fmt.Errorf("start %s: %w", in.spec.Entry, err)
	}
	pid := cmd.Process.Pid
	var tail subprocess.Tail
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		defer errR.Close()
		subprocess.LogLines(errR, in.spec.Logger, func() context.Context { return ctx }, &tail, in.spec.LogLimit, slog.Int("pid", pid))
	}()
	waited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		subprocess.KillGroup(pid) // anything it left running
	case <-ctx.Done():
		subprocess.KillGroup(pid)
		<-waited
		<-logged
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: process %d ran past the task's deadline; killed its process group%s: %w", plugins.ErrHung, pid, hint(&tail), ctx.Err())
		}
		return nil, fmt.Errorf("process %d: task cancelled; killed its process group: %w", pid, ctx.Err())
	}
	<-logged
	if out.over {
		return nil, fmt.Errorf("%w: process %d wrote more than %d bytes on stdout: %w", ErrExit, pid, in.opts.MaxOutput, asynq.SkipRetry)
	}
	if waitErr == nil {
		return out.buf.Bytes(), nil
	}
	var exitErr *osexec.ExitError
	if !errors.As(waitErr, &exitErr) {
		return nil, fmt.Errorf("process %d: %w", pid, waitErr)
	}
	code := exitErr.ExitCode()
	switch {
	case code == ExitRetry:
		return nil, fmt.Errorf("%w: process %d exited with status %d (retry later)%s", ErrExit, pid, code, hint(&tail))
	case code < 0:
		return nil, fmt.Errorf("%w: process %d was killed (%s)%s", ErrExit, pid, exitErr.ProcessState, hint(&tail))
	}
	return nil, fmt.Errorf("%w: process %d exited with status %d%s: %w", ErrExit, pid, code, hint(&tail), asynq.SkipRetry)
}

func hint(t *subprocess.Tail) string {
	if s := t.String(); s != "" {
		return "; last stderr: " + s
	}
	return ""
}

// limitedBuffer keeps up to limit bytes and notes whether more came.
type limitedBuffer struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.buf.Len(); len(p) > room {
		b.over = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

// Close waits for the tasks in flight until ctx ends.
func (in *instance) Close(ctx context.Context) error {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	if err := waitgroup.Wait(ctx, &in.inflight); err != nil {
		return fmt.Errorf("tasks still in flight when the plugin stopped: %w", err)
	}
	return nil
}
