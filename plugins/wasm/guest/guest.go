//go:build wasip1

package guest

import (
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

// Task is one task handed to the plugin.
type Task struct {
	// Type is the task type.
	Type string
	// Payload is the task's payload.
	Payload []byte
	// ID and Queue identify the task.
	ID, Queue string
	// Retry is the number of retries so far; MaxRetry the budget.
	Retry, MaxRetry int
	// Deadline is when the attempt is stopped (zero when none, or when
	// the clock is not granted: compare it only with a granted clock).
	Deadline time.Time
	// Headers are the task's headers.
	Headers map[string]string
	// Traceparent is the W3C trace context of the task ("" when none).
	Traceparent string
	// Config is the plugin's configuration (manifest defaults with the
	// fleet-wide overrides).
	Config map[string]any
}

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
var pending = map[uintptr][]byte{}

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

func take(p unsafe.Pointer, n int32) []byte {
	if n == 0 {
		return nil
	}
	b, ok := pending[uintptr(p)]
	if !ok || int(n) > len(b) {
		panic("tuskq guest: the host passed a buffer it did not allocate")
	}
	return b[:n]
}

type meta struct {
	TaskID      string            `json:"task_id"`
	Queue       string            `json:"queue"`
	Retry       int               `json:"retry"`
	MaxRetry    int               `json:"max_retry"`
	DeadlineMS  int64             `json:"deadline_unix_ms"`
	Headers     map[string]string `json:"headers"`
	Traceparent string            `json:"traceparent"`
	Config      map[string]any    `json:"config"`
}

//go:wasmexport tuskq_handle
func handle(typePtr unsafe.Pointer, typeLen int32, payloadPtr unsafe.Pointer, payloadLen int32, metaPtr unsafe.Pointer, metaLen int32) int32 {
	t := &Task{Type: string(take(typePtr, typeLen)), Payload: take(payloadPtr, payloadLen)}
	var m meta
	if mb := take(metaPtr, metaLen); len(mb) > 0 {
		if err := json.Unmarshal(mb, &m); err != nil {
			return fail(fmt.Errorf("tuskq guest: decode the task's meta: %w", err))
		}
	}
	clear(pending)
	t.ID, t.Queue, t.Retry, t.MaxRetry = m.TaskID, m.Queue, m.Retry, m.MaxRetry
	t.Headers, t.Traceparent, t.Config = m.Headers, m.Traceparent, m.Config
	if m.DeadlineMS > 0 {
		t.Deadline = time.UnixMilli(m.DeadlineMS)
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
