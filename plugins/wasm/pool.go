package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/tuskq/tuskq/internal/waitgroup"
	"github.com/tuskq/tuskq/plugins"
)

// pool is one loaded version of a wasm plugin: its own wazero runtime
// (which holds the memory cap), the compiled module and the idle
// instances. It implements plugins.Instance.
type pool struct {
	rt        *Runtime
	name      string
	version   string
	memory    int64
	logger    *slog.Logger
	spec      plugins.Spec
	wr        wazero.Runtime
	compiled  wazero.CompiledModule
	modConfig wazero.ModuleConfig

	mu       sync.Mutex
	idle     []*guest
	closed   bool
	inflight sync.WaitGroup
	created  int // instances made so far (for tests and metrics)
}

// guest is one instance of the module. It runs one task at a time.
type guest struct {
	mod    api.Module
	abi    api.Function
	alloc  api.Function
	handle api.Function
	buffer api.Function // tuskq_buffer, nil when the module does not export it
	out    *outputSink

	// bufPtr and bufCap are the input buffer tuskq_buffer last returned
	// (bufCap 0: none yet). It is reused while the inputs fit, so that a
	// task costs one call into the module instead of four.
	bufPtr, bufCap uint32
}

func (g *guest) close(ctx context.Context) {
	_ = g.mod.Close(context.WithoutCancel(ctx))
}

// cryptoRand is the random source of plugins granted sandbox.random.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }

// instantiate makes a fresh instance and runs its _initialize.
func (p *pool) instantiate(ctx context.Context) (*guest, error) {
	out := &outputSink{logger: p.logger, limit: p.spec.LogLimit}
	mod, err := p.wr.InstantiateModule(ctx, p.compiled, p.modConfig.WithStdout(out).WithStderr(out))
	if err != nil {
		return nil, fmt.Errorf("%w: instantiate: %w", ErrTrap, err)
	}
	g := &guest{mod: mod, out: out,
		abi: mod.ExportedFunction(ExportABIVersion), alloc: mod.ExportedFunction(ExportAlloc), handle: mod.ExportedFunction(ExportHandle),
		buffer: mod.ExportedFunction(ExportBuffer)}
	if init := mod.ExportedFunction(ExportInitialize); init != nil {
		if _, err := init.Call(ctx); err != nil {
			g.close(ctx)
			return nil, fmt.Errorf("%w: %s: %w%s", ErrTrap, ExportInitialize, err, out.tail())
		}
	}
	p.mu.Lock()
	p.created++
	p.mu.Unlock()
	return g, nil
}

// get returns an idle instance or makes a new one.
func (p *pool) get(ctx context.Context) (*guest, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		g := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return g, nil
	}
	p.mu.Unlock()
	return p.instantiate(ctx)
}

// put returns a healthy instance to the pool, keeping at most
// limits.max_concurrency idle.
func (p *pool) put(ctx context.Context, g *guest) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < p.spec.Manifest.Limits.MaxConcurrency {
		p.idle = append(p.idle, g)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	g.close(ctx)
}

// taskMeta is the meta JSON handed to tuskq_handle.
type taskMeta struct {
	TaskID      string            `json:"task_id"`
	Queue       string            `json:"queue"`
	Retry       int               `json:"retry"`
	MaxRetry    int               `json:"max_retry"`
	DeadlineMS  int64             `json:"deadline_unix_ms,omitempty"`
	Headers     map[string]string `json:"headers"`
	Traceparent string            `json:"traceparent,omitempty"`
	Config      map[string]any    `json:"config"`
}

// Process runs t on an idle instance (or a new one). An instance that
// fails in any way other than returning an error code is discarded.
func (p *pool) Process(ctx context.Context, t *asynq.Task, meta plugins.Meta) ([]byte, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, plugins.ErrClosed
	}
	p.inflight.Add(1)
	p.mu.Unlock()
	defer p.inflight.Done()

	tm := taskMeta{TaskID: meta.TaskID, Queue: meta.Queue, Retry: meta.Retry, MaxRetry: meta.MaxRetry,
		Headers: meta.Headers, Traceparent: meta.Traceparent, Config: meta.Config}
	if !meta.Deadline.IsZero() {
		tm.DeadlineMS = meta.Deadline.UnixMilli()
	}
	metaJSON, err := json.Marshal(tm)
	if err != nil {
		return nil, fmt.Errorf("wasm: encode the task's meta: %w", err)
	}
	g, err := p.get(ctx)
	if err != nil {
		return nil, p.failure(ctx, err, nil)
	}
	c := &call{ctx: ctx, pool: p}
	g.out.begin(ctx)
	defer g.out.end()
	code, err := p.call(withCall(ctx, c), g, []byte(t.Type()), t.Payload(), metaJSON)
	if err != nil {
		g.close(ctx)
		return nil, p.failure(ctx, err, g)
	}
	if c.tooLarge {
		p.put(ctx, g)
		return nil, fmt.Errorf("wasm: the result is larger than %d bytes (%w)", p.rt.opts.MaxResult, asynq.SkipRetry)
	}
	switch code {
	case CodeOK:
		p.put(ctx, g)
		return c.result, nil
	case CodeError:
		p.put(ctx, g)
		return nil, plugins.NewTaskError(c.errorText())
	case CodeSkipRetry:
		p.put(ctx, g)
		return nil, fmt.Errorf("%w (%w)", plugins.NewTaskError(c.errorText()), asynq.SkipRetry)
	}
	g.close(ctx)
	return nil, fmt.Errorf("wasm: %w: %s returned %d; the codes are 0 (ok), 1 (error) and 2 (error, no retry); the instance is discarded",
		plugins.ErrProtocol, ExportHandle, code)
}

// minBuffer is the smallest input buffer asked of tuskq_buffer, so that
// small tasks never grow it.
const minBuffer = 4 << 10

// call copies the inputs into guest memory and calls tuskq_handle.
func (p *pool) call(ctx context.Context, g *guest, inputs ...[]byte) (int32, error) {
	var arr [6]uint64
	args := arr[:0]
	if g.buffer != nil {
		total := 0
		for _, in := range inputs {
			total += len(in)
		}
		if total > 0 {
			if err := g.ensureBuffer(ctx, total); err != nil {
				return 0, err
			}
		}
		mem, off := g.mod.Memory(), g.bufPtr
		for _, in := range inputs {
			if len(in) == 0 {
				args = append(args, 0, 0)
				continue
			}
			if !mem.Write(off, in) {
				return 0, fmt.Errorf("%w: %s returned %d, which is not a buffer of %d bytes in its memory", plugins.ErrProtocol, ExportBuffer, g.bufPtr, g.bufCap)
			}
			args = append(args, uint64(off), uint64(len(in)))
			off += uint32(len(in))
		}
	} else {
		for _, in := range inputs {
			if len(in) == 0 {
				args = append(args, 0, 0)
				continue
			}
			res, err := g.alloc.Call(ctx, uint64(len(in)))
			if err != nil {
				return 0, fmt.Errorf("%s(%d): %w", ExportAlloc, len(in), err)
			}
			ptr := api.DecodeU32(res[0])
			if ptr == 0 || !g.mod.Memory().Write(ptr, in) {
				return 0, fmt.Errorf("%w: %s(%d) returned %d, which is not a buffer of that size in its memory", plugins.ErrProtocol, ExportAlloc, len(in), ptr)
			}
			args = append(args, uint64(ptr), uint64(len(in)))
		}
	}
	res, err := g.handle.Call(ctx, args...)
	if err != nil {
		return 0, err
	}
	return api.DecodeI32(res[0]), nil
}

// ensureBuffer makes the instance's input buffer hold at least n bytes,
// calling tuskq_buffer only when the last one is too small.
func (g *guest) ensureBuffer(ctx context.Context, n int) error {
	if uint32(n) <= g.bufCap {
		return nil
	}
	size := max(n, minBuffer, 2*int(g.bufCap))
	res, err := g.buffer.Call(ctx, uint64(size))
	if err != nil {
		return fmt.Errorf("%s(%d): %w", ExportBuffer, size, err)
	}
	ptr := api.DecodeU32(res[0])
	if end := uint64(ptr) + uint64(size); ptr == 0 || end > uint64(g.mod.Memory().Size()) {
		return fmt.Errorf("%w: %s(%d) returned %d, which is not a buffer of that size in its memory", plugins.ErrProtocol, ExportBuffer, size, ptr)
	}
	g.bufPtr, g.bufCap = ptr, uint32(size)
	return nil
}

// failure classifies the error of an instance that did not return: it was
// stopped at its time limit, or it trapped, panicked, exited or ran out of
// memory. The instance has been discarded.
func (p *pool) failure(ctx context.Context, err error, g *guest) error {
	tail := ""
	if g != nil {
		tail = g.out.tail()
	}
	cause := context.Cause(ctx)
	if cause == nil {
		cause = err
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return fmt.Errorf("wasm: %w (%w); the instance was discarded", ErrTimeLimit, cause)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("wasm: %w (%w); the instance was discarded", ErrTimeLimit, cause)
	}
	if errors.Is(err, plugins.ErrProtocol) {
		return fmt.Errorf("wasm: %w; the instance was discarded", err)
	}
	// wazero appends the wasm stack trace: keep the error's first line.
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("wasm: %w: %s%s; the instance was discarded and the task is retried", ErrTrap, msg, tail)
}

// Close waits for the tasks in flight (until ctx ends), then closes every
// instance and the version's wazero runtime.
func (p *pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, g := range idle {
		g.close(ctx)
	}
	err := waitgroup.Wait(ctx, &p.inflight)
	// Closing the runtime also stops instances still running.
	if cerr := p.wr.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wasm: %s %s: close: %w", p.name, p.version, err)
	}
	return nil
}

// outputSink receives an instance's stdout and stderr: whole lines go to
// the worker's log with the running task's context (so they carry its
// trace_id), through the plugin's log limiter; the last lines are kept for
// the error of a task whose instance fails.
type outputSink struct {
	logger *slog.Logger
	limit  *plugins.LogLimiter

	mu      sync.Mutex
	ctx     context.Context
	partial []byte
	first   []string // the first lines of the running task (a Go fatal error's reason)
	last    []string // and its last ones
}

const (
	maxLine   = 4096
	keepLines = 4 // first and last lines kept for a failed task's error
)

func (o *outputSink) begin(ctx context.Context) {
	o.mu.Lock()
	o.ctx, o.first, o.last = ctx, nil, nil
	o.mu.Unlock()
}

func (o *outputSink) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.partial) > 0 {
		o.line(o.partial)
		o.partial = nil
	}
	o.ctx = nil
}

// Write implements io.Writer.
func (o *outputSink) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			o.partial = append(o.partial, b...)
			if len(o.partial) > maxLine {
				o.line(o.partial)
				o.partial = nil
			}
			break
		}
		o.line(append(o.partial, b[:i]...))
		o.partial = nil
		b = b[i+1:]
	}
	return n, nil
}

func (o *outputSink) line(l []byte) {
	if len(l) > maxLine {
		l = l[:maxLine]
	}
	s := string(l)
	if len(o.first) < keepLines {
		o.first = append(o.first, s)
	} else {
		o.last = append(o.last, s)
		if len(o.last) > keepLines {
			o.last = o.last[1:]
		}
	}
	ctx := o.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if o.limit.Allow(ctx) {
		o.logger.WarnContext(ctx, "plugin output", "line", s)
	}
}

// tail returns the last output lines as "; output: …" ("" when none).
func (o *outputSink) tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.partial) > 0 {
		o.last = append(o.last, string(o.partial))
		o.partial = nil
	}
	lines := o.first
	if len(o.last) > 0 {
		lines = append(append(slices.Clone(lines), "…"), o.last...)
	}
	if len(lines) == 0 {
		return ""
	}
	b, _ := json.Marshal(lines)
	return "; output: " + string(b)
}
