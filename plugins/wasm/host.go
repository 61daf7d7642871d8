package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/tuskq/tuskq/plugins"
)

// call is the state of one tuskq_handle call, reached by the host
// functions through the call's context.
type call struct {
	ctx      context.Context // the task's context: logs carry its trace_id
	pool     *pool
	result   []byte
	errText  []byte
	tooLarge bool
	response []byte // the last http_request response, until http_response takes it
}

func (c *call) errorText() string {
	if len(c.errText) == 0 {
		return "the plugin failed the task without a message"
	}
	return string(c.errText)
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// callOf returns the call of ctx; a host function called outside
// tuskq_handle (from _initialize or tuskq_alloc) gets nil.
func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

var i32 = api.ValueTypeI32

// hostSignatures are the host functions of the ABI.
var hostSignatures = map[string]struct{ params, results []api.ValueType }{
	ImportLog:          {[]api.ValueType{i32, i32, i32}, nil},
	ImportProgress:     {[]api.ValueType{i32, i32, i32}, nil},
	ImportSetResult:    {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	ImportSetError:     {[]api.ValueType{i32, i32}, nil},
	ImportHTTPRequest:  {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
	ImportHTTPResponse: {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
}

var hostFuncs = map[string]func(ctx context.Context, m api.Module, stack []uint64){
	ImportLog:          hostLog,
	ImportProgress:     hostProgress,
	ImportSetResult:    hostSetResult,
	ImportSetError:     hostSetError,
	ImportHTTPRequest:  hostHTTPRequest,
	ImportHTTPResponse: hostHTTPResponse,
}

// instantiateHost adds the tuskq host module to r.
func instantiateHost(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(ImportModule)
	for name, sig := range hostSignatures {
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(hostFuncs[name]), sig.params, sig.results).
			Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate the %s host module: %w", ImportModule, err)
	}
	return nil
}

// read copies len bytes at ptr out of the guest's memory. A range outside
// the memory is a protocol violation: it fails the call and the instance
// is discarded.
func read(m api.Module, ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Errorf("%w: the buffer at %d of %d bytes is outside the plugin's memory", plugins.ErrProtocol, ptr, n))
	}
	return bytes.Clone(b)
}

const maxLogMessage = 8 << 10

// hostLog is log(level, ptr, len): one record in the worker's log with
// the task's context (trace_id, task fields) and the plugin's name.
func hostLog(ctx context.Context, m api.Module, stack []uint64) {
	level, ptr, n := api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	if n > maxLogMessage {
		n = maxLogMessage
	}
	msg := string(read(m, ptr, n))
	c := callOf(ctx)
	if c == nil {
		return
	}
	if !c.pool.spec.LogLimit.Allow(c.ctx) {
		return
	}
	lv := slog.LevelInfo
	switch level {
	case LevelDebug:
		lv = slog.LevelDebug
	case LevelWarn:
		lv = slog.LevelWarn
	case LevelError:
		lv = slog.LevelError
	}
	c.pool.logger.Log(c.ctx, lv, msg, "source", "plugin")
}

// hostProgress is progress(percent, ptr, len): a "plugin progress" record
// with the percentage (clamped to 0..100) and the message.
func hostProgress(ctx context.Context, m api.Module, stack []uint64) {
	pct, ptr, n := api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	if n > maxLogMessage {
		n = maxLogMessage
	}
	msg := string(read(m, ptr, n))
	c := callOf(ctx)
	if c == nil || !c.pool.spec.LogLimit.Allow(c.ctx) {
		return
	}
	pct = max(0, min(100, pct))
	c.pool.logger.InfoContext(c.ctx, "plugin progress", "percent", pct, "message", msg)
}

// hostSetResult is set_result(ptr, len) -> 0 or ResultTooLarge.
func hostSetResult(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]) // i32 arguments: the upper bits are not defined
	c := callOf(ctx)
	if c == nil {
		stack[0] = 0
		return
	}
	if int(n) > c.pool.rt.opts.MaxResult {
		c.tooLarge = true
		stack[0] = api.EncodeI32(ResultTooLarge)
		return
	}
	c.result = read(m, ptr, n)
	stack[0] = 0
}

// hostSetError is set_error(ptr, len): the message of a failed task.
func hostSetError(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]) // i32 arguments: the upper bits are not defined
	if n > maxLogMessage {
		n = maxLogMessage
	}
	if c := callOf(ctx); c != nil {
		c.errText = read(m, ptr, n)
	}
}

// httpRequest is the JSON of an http_request call. Body is base64 in JSON.
type httpRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// httpResponse is the JSON http_response hands back.
type httpResponse struct {
	Status    int               `json:"status,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      []byte            `json:"body,omitempty"`
	Truncated bool              `json:"truncated,omitempty"`
	Error     string            `json:"error,omitempty"`
}

const maxHTTPRequest = 4 << 20

// hostHTTPRequest is http_request(ptr, len) -> response length, or
// HTTPNotGranted or HTTPBadRequest. The request goes through the worker's
// HTTP guard (the allow-list and dial guard of http:request) with the
// task's deadline; the response (or the error) waits for http_response.
func hostHTTPRequest(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]) // i32 arguments: the upper bits are not defined
	c := callOf(ctx)
	if c == nil || !c.pool.spec.Manifest.Sandbox.HTTP || c.pool.rt.opts.HTTP == nil {
		stack[0] = api.EncodeI32(HTTPNotGranted)
		return
	}
	if n > maxHTTPRequest {
		stack[0] = api.EncodeI32(HTTPBadRequest)
		return
	}
	var req httpRequest
	if err := json.Unmarshal(read(m, ptr, n), &req); err != nil || req.URL == "" {
		stack[0] = api.EncodeI32(HTTPBadRequest)
		return
	}
	resp := c.pool.doHTTP(c.ctx, req)
	c.response, _ = json.Marshal(resp)
	stack[0] = uint64(len(c.response))
}

func (p *pool) doHTTP(ctx context.Context, r httpRequest) httpResponse {
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return httpResponse{Error: err.Error()}
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return httpResponse{Error: fmt.Sprintf("scheme %q refused; only http and https", req.URL.Scheme)}
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	res, err := p.rt.opts.HTTP.Do(req)
	if err != nil {
		return httpResponse{Error: err.Error()}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, p.rt.opts.MaxHTTPBody+1))
	out := httpResponse{Status: res.StatusCode, Headers: map[string]string{}}
	for k := range res.Header {
		out.Headers[k] = res.Header.Get(k)
	}
	if err != nil {
		out.Error = err.Error()
	}
	if int64(len(body)) > p.rt.opts.MaxHTTPBody {
		body, out.Truncated = body[:p.rt.opts.MaxHTTPBody], true
	}
	out.Body = body
	return out
}

// hostHTTPResponse is http_response(ptr, len) -> bytes copied, or
// HTTPNoResponse or HTTPBufferTooSmall.
func hostHTTPResponse(ctx context.Context, m api.Module, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]) // i32 arguments: the upper bits are not defined
	c := callOf(ctx)
	if c == nil || c.response == nil {
		stack[0] = api.EncodeI32(HTTPNoResponse)
		return
	}
	if int(n) < len(c.response) {
		stack[0] = api.EncodeI32(HTTPBufferTooSmall)
		return
	}
	if !m.Memory().Write(ptr, c.response) {
		panic(fmt.Errorf("%w: http_response: the buffer at %d of %d bytes is outside the plugin's memory", plugins.ErrProtocol, ptr, n))
	}
	stack[0] = uint64(len(c.response))
	c.response = nil
}
