package resident

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/internal/subprocess"
)

// child is one plugin process. It handles one request at a time: the
// goroutine holding it writes the request and reads the response itself
// (no goroutine hand-off), with the pipe deadlines bounding both.
type child struct {
	pid     int
	stdin   *os.File
	outFile *os.File
	stdout  *bufio.Reader
	maxLine int
	exited  chan struct{}   // closed once the process is reaped
	tail    subprocess.Tail // last stderr lines
	task    atomic.Pointer[context.Context]
	seq     uint64
	dead    atomic.Bool // killed, crashed or broke the protocol
	logger  *slog.Logger

	mu    sync.Mutex
	state *os.ProcessState
}

// spawn starts the entry and waits for its ready line.
func spawn(ctx context.Context, spec plugins.Spec, maxLine int, startTimeout time.Duration) (*child, error) {
	var files [6]*os.File // inR, inW, outR, outW, errR, errW
	for i := 0; i < len(files); i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range files[:i] {
				f.Close()
			}
			return nil, err
		}
		files[i], files[i+1] = r, w
	}
	inR, inW, outR, outW, errR, errW := files[0], files[1], files[2], files[3], files[4], files[5]
	if err := spec.CheckEntry(); err != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	cmd := exec.Command(spec.Entry, spec.Manifest.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = subprocess.SysProcAttr()
	err := cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Entry, err)
	}
	c := &child{
		pid:     cmd.Process.Pid,
		stdin:   inW,
		outFile: outR,
		stdout:  bufio.NewReaderSize(outR, 64<<10),
		maxLine: maxLine,
		exited:  make(chan struct{}),
		logger:  spec.Logger,
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		defer errR.Close()
		subprocess.LogLines(errR, c.logger, c.taskContext, &c.tail, spec.LogLimit, slog.Int("pid", c.pid))
	}()
	go func() {
		_ = cmd.Wait() // the exit status is in ProcessState
		c.mu.Lock()
		c.state = cmd.ProcessState
		c.mu.Unlock()
		c.dead.Store(true)
		subprocess.KillGroup(c.pid) // whatever it left behind
		<-logged
		close(c.exited)
	}()
	if err := c.awaitReady(ctx, startTimeout); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// taskContext is the context of the task the process holds or held last,
// so that its stderr lines carry that task's trace_id.
func (c *child) taskContext() context.Context {
	if p := c.task.Load(); p != nil {
		return *p
	}
	return context.Background()
}

// readLine reads one stdout line of at most maxLine bytes, without its
// newline.
func (c *child) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := c.stdout.ReadSlice('\n')
		if len(line)+len(chunk) > c.maxLine+1 {
			return nil, fmt.Errorf("%w: process %d wrote a line longer than %d bytes (killed it)", plugins.ErrProtocol, c.pid, c.maxLine)
		}
		switch {
		case err == nil && line == nil:
			return bytes.TrimRight(chunk, "\r\n"), nil // valid until the next read
		case err == nil:
			return bytes.TrimRight(append(line, chunk...), "\r\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			line = append(line, chunk...)
		default:
			return nil, err
		}
	}
}

// awaitReady waits for the {"ready": true} line.
func (c *child) awaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	wait := time.Until(deadline).Round(time.Millisecond)
	_ = c.outFile.SetReadDeadline(deadline)
	line, err := c.readLine()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("process %d did not write {\"ready\": true} within %s%s", c.pid, wait, c.stderrHint())
	case err != nil && errors.Is(err, plugins.ErrProtocol):
		return err
	case err != nil:
		return c.exitError("exited before it was ready")
	}
	var r Ready
	if err := json.Unmarshal(line, &r); err != nil || !r.Ready {
		return fmt.Errorf("%w: process %d: the first line on stdout must be {\"ready\": true}, got %s", plugins.ErrProtocol, c.pid, quote(line))
	}
	return nil
}

// exitError describes how the process ended, waiting briefly for it to be
// reaped.
func (c *child) exitError(what string) error {
	select {
	case <-c.exited:
	case <-time.After(2 * time.Second):
	}
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	status := "no exit status yet"
	if st != nil {
		status = st.String()
	}
	return fmt.Errorf("%w: process %d %s (%s)%s", plugins.ErrCrashed, c.pid, what, status, c.stderrHint())
}

func (c *child) stderrHint() string {
	if t := c.tail.String(); t != "" {
		return "; last stderr: " + t
	}
	return ""
}

// kill kills the process group, marks the child dead and closes its pipes.
func (c *child) kill() {
	c.dead.Store(true)
	subprocess.KillGroup(c.pid)
	c.stdin.Close()
	c.outFile.Close()
}

// do sends one request and reads its response. After any error but a
// plugin-reported one (which comes back as a Response) the child is dead.
func (c *child) do(ctx context.Context, req *Request) (*Response, error) {
	c.task.Store(&ctx)
	c.seq++
	req.ID = strconv.FormatUint(c.seq, 10)
	line, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	line = append(line, '\n')
	dl, _ := ctx.Deadline() // zero: no deadline
	_ = c.stdin.SetWriteDeadline(dl)
	_ = c.outFile.SetReadDeadline(dl)
	// A cancellation without a deadline (a worker shutdown) unblocks the
	// read by moving the deadline to the past.
	stop := context.AfterFunc(ctx, func() { _ = c.outFile.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.stdin.Write(line); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, c.timedOut(ctx, "did not read the request")
		}
		c.kill()
		return nil, c.exitError("exited before reading the request")
	}
	out, err := c.readLine()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, c.timedOut(ctx, "held the task past its deadline")
	case errors.Is(err, plugins.ErrProtocol):
		c.kill()
		return nil, err
	case errors.Is(err, io.EOF):
		c.kill()
		return nil, c.exitError("exited while processing the task")
	case err != nil:
		c.kill()
		return nil, fmt.Errorf("process %d: read the response: %w", c.pid, err)
	}
	var resp Response
	if err := json.Unmarshal(out, &resp); err != nil {
		c.kill()
		return nil, fmt.Errorf("%w: process %d wrote a line that is not a JSON response (killed it): %s", plugins.ErrProtocol, c.pid, quote(out))
	}
	if resp.ID != req.ID {
		c.kill()
		return nil, fmt.Errorf("%w: process %d answered request id %q while %q was pending (killed it)", plugins.ErrProtocol, c.pid, resp.ID, req.ID)
	}
	return &resp, nil
}

// timedOut kills the child whose task's ctx ended and says why.
func (c *child) timedOut(ctx context.Context, what string) error {
	c.kill()
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("process %d: task cancelled; killed the process: %w", c.pid, ctx.Err())
	}
	return fmt.Errorf("%w: process %d %s; killed it: %w", plugins.ErrHung, c.pid, what, context.DeadlineExceeded)
}

// stop closes stdin so that the plugin exits, and kills it if it has not
// exited when ctx ends.
func (c *child) stop(ctx context.Context) {
	c.stdin.Close()
	select {
	case <-c.exited:
		c.outFile.Close()
	case <-ctx.Done():
		c.kill()
		select {
		case <-c.exited:
		case <-time.After(2 * time.Second): // a descendant that left the group keeps a pipe open
		}
	}
}

// release closes the pipes of a child that died on its own.
func (c *child) release() {
	c.stdin.Close()
	c.outFile.Close()
}

// quote shortens a line for an error message.
func quote(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q…", b[:200])
	}
	return fmt.Sprintf("%q", b)
}
