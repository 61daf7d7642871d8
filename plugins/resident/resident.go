// Package resident is the "process" plugin runtime: each plugin runs as a
// pool of long-lived child processes, in any language, that speak one JSON
// object per line over stdin and stdout.
//
// # Protocol
//
// The child starts in the plugin directory with the minimal environment of
// plugins.Spec.Env. When ready it writes {"ready": true} on stdout. Then,
// for each task, the runtime writes one Request line on its stdin and the
// child answers with one Response line on stdout carrying the same id.
// A child handles one request at a time; the pool runs up to the
// manifest's limits.max_concurrency children. Everything the child writes
// on stderr becomes a "plugin log" record carrying the task's trace_id
// (lines written between tasks are attributed to the previous task). When
// stdin closes, the child must exit.
//
// Payload: a JSON payload (the convention) travels as the JSON value in
// "payload"; any other payload as base64 in "payload_base64". Result:
// "result" (any JSON value) or "result_base64". An "error" fails the
// attempt; "retry": false archives the task at once instead of retrying.
//
// # Failures
//
// A child that exits while holding a task, writes something that is not a
// response, or does not answer before the task's deadline is killed with
// its process group; the task fails (plugins.ErrCrashed, ErrProtocol or
// ErrHung) and follows the retry path. The next task starts a new child
// after a backoff that doubles with each consecutive failure (from
// Options.MinBackoff up to Options.MaxBackoff) and resets after a
// successful response.
package resident

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/waitgroup"
	"github.com/tuskq/tuskq/plugins"
)

// Defaults of Options.
const (
	DefaultMaxLine      = 16 << 20
	DefaultStartTimeout = 10 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
)

// Options configures the process runtime. The zero value uses the defaults.
type Options struct {
	// MaxLine bounds one response line. Defaults to DefaultMaxLine (16 MiB).
	MaxLine int
	// StartTimeout bounds the wait for a child's ready line. Defaults to
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a child is started
	// again after one crashed or was killed.
	MinBackoff, MaxBackoff time.Duration
}

// Runtime is the process runtime.
type Runtime struct {
	opts Options
}

var _ plugins.Runtime = (*Runtime)(nil)

// New returns the process runtime.
func New(opts Options) *Runtime {
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	return &Runtime{opts: opts}
}

// Start starts one child and waits for it to be ready, so that a plugin
// that cannot start fails to load; more children start as tasks need them.
func (r *Runtime) Start(ctx context.Context, spec plugins.Spec) (plugins.Instance, error) {
	c, err := spawn(ctx, spec, r.opts.MaxLine, r.opts.StartTimeout)
	if err != nil {
		return nil, err
	}
	spec.Logger.DebugContext(ctx, "plugin process started", "pid", c.pid)
	size := spec.Manifest.Limits.MaxConcurrency
	in := &instance{spec: spec, opts: r.opts, slots: make(chan *child, size), all: map[*child]bool{c: true}}
	in.slots <- c
	for range size - 1 {
		in.slots <- nil // a free slot without a process yet
	}
	return in, nil
}

// instance is the pool of one plugin version.
type instance struct {
	spec  plugins.Spec
	opts  Options
	slots chan *child // idle children; nil is a slot without one

	mu        sync.Mutex
	closed    bool
	inflight  sync.WaitGroup
	all       map[*child]bool
	failures  int       // consecutive crashes, kills and failed starts
	nextStart time.Time // no child starts before

	cfgOnce sync.Once // encodes the manifest's config defaults
	cfgJSON json.RawMessage
	cfgErr  error
}

func (in *instance) acquire() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false
	}
	in.inflight.Add(1)
	return true
}

// Process runs one task on a free child, starting one when needed.
func (in *instance) Process(ctx context.Context, t *asynq.Task, meta plugins.Meta) ([]byte, error) {
	if !in.acquire() {
		return nil, plugins.ErrClosed
	}
	defer in.inflight.Done()
	var c *child
	select {
	case c = <-in.slots:
	case <-ctx.Done():
		return nil, fmt.Errorf("all %d plugin processes stayed busy: %w", cap(in.slots), ctx.Err())
	}
	if c == nil || c.dead.Load() {
		in.forget(c)
		var err error
		if c, err = in.start(ctx); err != nil {
			in.slots <- nil
			return nil, err
		}
	}
	req, err := in.request(t, meta)
	if err != nil {
		in.slots <- c
		return nil, err
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		in.failed(c, err)
		in.slots <- nil
		return nil, err
	}
	in.succeeded()
	in.slots <- c
	return result(resp)
}

// start starts a child, after the backoff of earlier failures.
func (in *instance) start(ctx context.Context) (*child, error) {
	in.mu.Lock()
	wait := time.Until(in.nextStart)
	in.mu.Unlock()
	if wait > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("waiting %s to restart the plugin process after a failure: %w", wait.Round(time.Millisecond), ctx.Err())
		}
	}
	c, err := spawn(ctx, in.spec, in.opts.MaxLine, in.opts.StartTimeout)
	if err != nil {
		in.failed(nil, err)
		return nil, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		c.kill()
		return nil, plugins.ErrClosed
	}
	in.all[c] = true
	in.spec.Logger.InfoContext(ctx, "plugin process started", "pid", c.pid, "restarts", in.failures)
	return c, nil
}

// failed records a crash, kill or failed start and sets the backoff.
func (in *instance) failed(c *child, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if c != nil {
		delete(in.all, c)
	}
	in.failures++
	backoff := in.opts.MinBackoff << min(in.failures-1, 20)
	backoff = min(backoff, in.opts.MaxBackoff)
	in.nextStart = time.Now().Add(backoff)
	in.spec.Logger.Warn("plugin process failed; a new one starts for the next task",
		"error", err, "backoff", backoff, "failures", in.failures)
}

func (in *instance) succeeded() {
	in.mu.Lock()
	in.failures = 0
	in.mu.Unlock()
}

// forget drops a child that died while idle.
func (in *instance) forget(c *child) {
	if c == nil {
		return
	}
	c.release()
	in.mu.Lock()
	delete(in.all, c)
	in.mu.Unlock()
	in.spec.Logger.Warn("plugin process exited while idle", "pid", c.pid, "error", c.exitError("exited"))
}

// request builds the request line of t.
func (in *instance) request(t *asynq.Task, meta plugins.Meta) (*Request, error) {
	cfg, err := in.config(meta.Config)
	if err != nil {
		return nil, err
	}
	req := &Request{
		TaskID: meta.TaskID, Type: t.Type(), Headers: meta.Headers, Traceparent: meta.Traceparent,
		Queue: meta.Queue, Retry: meta.Retry, MaxRetry: meta.MaxRetry, Deadline: meta.Deadline, Config: cfg,
	}
	if req.Headers == nil {
		req.Headers = map[string]string{}
	}
	if p := t.Payload(); json.Valid(p) {
		req.Payload = p
	} else if len(p) > 0 {
		req.PayloadBase64 = p
	}
	return req, nil
}

// config returns cfg as JSON. The manifest's defaults (what a task
// carries when no override is set) are encoded once.
func (in *instance) config(cfg map[string]any) (json.RawMessage, error) {
	if reflect.ValueOf(cfg).Pointer() == reflect.ValueOf(in.spec.Manifest.Config).Pointer() {
		in.cfgOnce.Do(func() { in.cfgJSON, in.cfgErr = json.Marshal(cfg) })
		return in.cfgJSON, in.cfgErr
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode the plugin configuration: %w", err)
	}
	return b, nil
}

// result turns a response into Process's result.
func result(resp *Response) ([]byte, error) {
	if resp.Error != "" {
		if resp.Retry != nil && !*resp.Retry {
			return nil, fmt.Errorf("%s (the plugin asked not to retry): %w", resp.Error, asynq.SkipRetry)
		}
		return nil, plugins.NewTaskError(resp.Error)
	}
	if len(resp.ResultBase64) > 0 {
		return resp.ResultBase64, nil
	}
	if len(resp.Result) == 0 || string(resp.Result) == "null" {
		return nil, nil
	}
	return resp.Result, nil
}

// Close waits for the tasks in flight (until ctx ends), then closes every
// child's stdin and kills those still running when ctx ends.
func (in *instance) Close(ctx context.Context) error {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	var err error
	if werr := waitgroup.Wait(ctx, &in.inflight); werr != nil {
		err = fmt.Errorf("tasks still in flight when the plugin stopped: %w", werr)
	}
	in.mu.Lock()
	children := make([]*child, 0, len(in.all))
	for c := range in.all {
		children = append(children, c)
	}
	in.all = map[*child]bool{}
	in.mu.Unlock()
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range children {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop(stopCtx)
		}()
	}
	wg.Wait()
	return err
}
