//go:build wasip1

package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// ABIVersion is the ABI this SDK implements.
const ABIVersion = 1

// Level is the level of a Log record.
type Level int32

// Log levels.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Task is one task handed to the plugin. Its metadata (ID, queue, retries,
// deadline, headers, trace context, config) is decoded on the first call
// of one of its methods, so that a handler that needs none of it does not
// pay for it.
type Task struct {
	// Type is the task type.
	Type string
	// Payload is the task's payload.
	Payload []byte

	raw     []byte // the meta JSON, until decoded
	decoded bool
	meta    meta
}

// m decodes the task's metadata on first use.
func (t *Task) m() *meta {
	if !t.decoded {
		t.decoded = true
		if len(t.raw) > 0 {
			if err := decodeMeta(t.raw, &t.meta); err != nil {
				Log(LevelError, err.Error())
			}
		}
		t.raw = nil
	}
	return &t.meta
}

// ID is the task's ID.
func (t *Task) ID() string { return t.m().TaskID }

// Queue is the task's queue.
func (t *Task) Queue() string { return t.m().Queue }

// Retry is the number of retries so far.
func (t *Task) Retry() int { return t.m().Retry }

// MaxRetry is the task's retry budget.
func (t *Task) MaxRetry() int { return t.m().MaxRetry }

// Deadline is when the attempt is stopped (zero when none). Compare it
// only with a clock the manifest grants (sandbox.clock).
func (t *Task) Deadline() time.Time {
	if ms := t.m().DeadlineMS; ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// Headers are the task's headers (nil when none).
func (t *Task) Headers() map[string]string { return t.m().Headers }

// Traceparent is the W3C trace context of the task ("" when none).
func (t *Task) Traceparent() string { return t.m().Traceparent }

// Config is the plugin's configuration: the manifest's defaults with the
// fleet-wide overrides (nil when none).
func (t *Task) Config() map[string]any { return t.m().Config }

// HandlerFunc processes one task: it returns the result (nil for none) or
// an error. Wrap an error with SkipRetry to archive the task at once.
type HandlerFunc func(t *Task) ([]byte, error)

var handler HandlerFunc

// Handle registers the plugin's handler. Call it in init.
func Handle(fn HandlerFunc) { handler = fn }

// ErrSkipRetry is wrapped by SkipRetry's errors.
var ErrSkipRetry = errors.New("skip retry")

// SkipRetry marks err so that the task is not retried.
func SkipRetry(err error) error { return fmt.Errorf("%w (%w)", err, ErrSkipRetry) }

//go:wasmimport tuskq log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

//go:wasmimport tuskq progress
func hostProgress(percent int32, ptr unsafe.Pointer, n int32)

//go:wasmimport tuskq set_result
func hostSetResult(ptr unsafe.Pointer, n int32) int32

//go:wasmimport tuskq set_error
func hostSetError(ptr unsafe.Pointer, n int32)

//go:wasmimport tuskq http_request
func hostHTTPRequest(ptr unsafe.Pointer, n int32) int32

//go:wasmimport tuskq http_response
func hostHTTPResponse(ptr unsafe.Pointer, n int32) int32

// ptr returns the address of b's first byte (nil when b is empty).
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// Log writes msg to the worker's log at level, with the task's trace_id.
func Log(level Level, msg string) {
	b := []byte(msg)
	hostLog(int32(level), ptr(b), int32(len(b)))
}

// Progress reports how far the task is (0 to 100) with a message.
func Progress(percent int, msg string) {
	b := []byte(msg)
	hostProgress(int32(percent), ptr(b), int32(len(b)))
}

// Request is an outbound HTTP request (sandbox.http must be granted).
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
}

// Response is the answer to a Request.
type Response struct {
	Status    int               `json:"status"`
	Headers   map[string]string `json:"headers"`
	Body      []byte            `json:"body"`
	Truncated bool              `json:"truncated"`
	Error     string            `json:"error"`
}

// ErrHTTPNotGranted is returned by Do when the manifest does not grant
// sandbox.http.
var ErrHTTPNotGranted = errors.New("outbound HTTP not granted: add sandbox.http: true to the manifest")

// Do sends req through the worker, which applies its allow-list and dial
// guard. A transport error or a refusal is returned as an error.
func Do(req Request) (*Response, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	n := hostHTTPRequest(ptr(b), int32(len(b)))
	switch {
	case n == -1:
		return nil, ErrHTTPNotGranted
	case n < 0:
		return nil, fmt.Errorf("http_request refused the request (code %d)", n)
	}
	buf := make([]byte, n)
	if got := hostHTTPResponse(ptr(buf), n); got != n {
		return nil, fmt.Errorf("http_response returned %d, want %d", got, n)
	}
	var resp Response
	if err := json.Unmarshal(buf, &resp); err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}

// pending holds the buffers tuskq_alloc handed to the host until
// tuskq_handle has used them, so that the garbage collector keeps them.
// A worker that knows tuskq_buffer does not call tuskq_alloc.
var pending = map[uintptr][]byte{}

// input is the buffer tuskq_buffer hands to the host: the worker writes
// each task's type, payload and meta into it, reusing it while they fit,
// so that a task costs one call into the module and no allocation for
// its inputs.
var input []byte

//go:wasmexport tuskq_abi_version
func abiVersion() int32 { return ABIVersion }

//go:wasmexport tuskq_alloc
func alloc(size int32) unsafe.Pointer {
	if size <= 0 {
		return nil
	}
	b := make([]byte, size)
	p := unsafe.Pointer(&b[0])
	pending[uintptr(p)] = b
	return p
}

//go:wasmexport tuskq_buffer
func buffer(size int32) unsafe.Pointer {
	if size <= 0 {
		size = 1
	}
	if int(size) > len(input) {
		input = make([]byte, size)
	}
	return unsafe.Pointer(&input[0])
}

// take returns the n bytes at p: a part of the input buffer, or a buffer
// tuskq_alloc made.
func take(p unsafe.Pointer, n int32) []byte {
	if n == 0 {
		return nil
	}
	if len(input) > 0 {
		base := uintptr(unsafe.Pointer(&input[0]))
		if off := uintptr(p) - base; uintptr(p) >= base && off+uintptr(n) <= uintptr(len(input)) {
			return input[off : off+uintptr(n) : off+uintptr(n)]
		}
	}
	b, ok := pending[uintptr(p)]
	if !ok || int(n) > len(b) {
		panic("tuskq guest: the host passed a buffer it did not allocate")
	}
	return b[:n]
}

//go:wasmexport tuskq_handle
func handle(typePtr unsafe.Pointer, typeLen int32, payloadPtr unsafe.Pointer, payloadLen int32, metaPtr unsafe.Pointer, metaLen int32) int32 {
	// The payload is copied out of the input buffer, which the next task
	// overwrites, so that a handler may keep it.
	t := &Task{Type: string(take(typePtr, typeLen)), Payload: bytes.Clone(take(payloadPtr, payloadLen))}
	// The meta is copied too (it is decoded later, when asked for).
	t.raw = bytes.Clone(take(metaPtr, metaLen))
	if len(pending) > 0 {
		clear(pending)
	}
	if handler == nil {
		return fail(SkipRetry(errors.New("tuskq guest: no handler: call guest.Handle in init")))
	}
	result, err := handler(t)
	if err != nil {
		return fail(err)
	}
	if len(result) > 0 {
		if hostSetResult(ptr(result), int32(len(result))) != 0 {
			return fail(SkipRetry(fmt.Errorf("tuskq guest: the result of %d bytes is too large", len(result))))
		}
	}
	return 0
}

func fail(err error) int32 {
	b := []byte(err.Error())
	hostSetError(ptr(b), int32(len(b)))
	if errors.Is(err, ErrSkipRetry) {
		return 2
	}
	return 1
}
