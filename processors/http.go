package processors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

// Headers http:request adds to every request.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	headerUserAgent      = "User-Agent"
)

// maxErrorBody is how much of a failed response's body goes into the error.
const maxErrorBody = 200

// drainLimit is how much of an unread response body is discarded so the
// connection can be reused.
const drainLimit = 64 << 10

// httpProcessor is http:request.
type httpProcessor struct {
	allow     allowList
	client    *http.Client
	logger    *slog.Logger
	userAgent string
}

// newHTTPProcessor builds http:request from the options.
func newHTTPProcessor(opts Options, logger *slog.Logger) (*httpProcessor, error) {
	allow, err := parseAllowList(opts.HTTPAllowHosts)
	if err != nil {
		return nil, err
	}
	client := defaultClient(allow)
	if opts.HTTPClient != nil {
		client = guardClient(opts.HTTPClient, allow)
	}
	if opts.TracerProvider != nil {
		client = tracedClient(client, opts.TracerProvider)
	}
	version := opts.Version
	if version == "" {
		version = buildVersion()
	}
	return &httpProcessor{allow: allow, client: client, logger: logger, userAgent: "tuskq/" + version}, nil
}

// httpResult is the task result of a successful http:request.
type httpResult struct {
	Status    int    `json:"status"`
	Body      string `json:"body"`
	Truncated bool   `json:"truncated,omitempty"`
}

// ProcessTask sends the request of the payload and classifies the response:
// 2xx succeeds and writes the result; a 429 or 503 with Retry-After is
// deferred for that long without using a retry (tasks.RateLimited); 408,
// 429, 5xx and network errors are retried, anything else fails without
// retry. See the package documentation.
func (p *httpProcessor) ProcessTask(ctx context.Context, t *asynq.Task) error {
	res, err := p.do(ctx, t)
	var se *StatusError
	if errors.As(err, &se) && se.RetryAfter > 0 &&
		(se.StatusCode == http.StatusTooManyRequests || se.StatusCode == http.StatusServiceUnavailable) {
		// The receiver asked to slow down: the task is deferred for
		// Retry-After without using a retry (tasks.RateLimited).
		return &rateLimitedError{deferral: tasks.RateLimited(se.RetryAfter), status: se}
	}
	if err != nil {
		return err
	}
	p.writeResult(ctx, t, res)
	return nil
}

// do sends the request of t and returns the result of a 2xx response or the
// error that classifies any other outcome.
func (p *httpProcessor) do(ctx context.Context, t *asynq.Task) (*httpResult, error) {
	call, err := decodeHTTPRequest(t.Payload())
	if err != nil {
		return nil, err
	}
	if err := p.allow.check(call.url, "host"); err != nil {
		return nil, err
	}
	reqCtx, cancel := context.WithTimeout(ctx, call.timeout)
	defer cancel()
	var reqBody io.Reader
	if call.body != nil {
		reqBody = bytes.NewReader(call.body)
	}
	req, err := http.NewRequestWithContext(reqCtx, call.method, call.url.String(), reqBody)
	if err != nil {
		return nil, badPayload(TypeHTTPRequest, "cannot build the request: %v", err)
	}
	req.Header = call.header.Clone()
	p.addHeaders(ctx, t, req.Header)

	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, p.transportError(ctx, reqCtx, call, err)
	}
	defer resp.Body.Close()
	body, truncated, readErr := readBody(resp.Body)
	p.logger.DebugContext(ctx, "http:request finished",
		"method", call.method,
		"host", call.url.Host,
		"status", resp.StatusCode,
		"duration_ms", time.Since(start).Milliseconds())

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &StatusError{
			Method:     call.method,
			Host:       call.url.Host,
			StatusCode: resp.StatusCode,
			Status:     resp.Status,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
			Body:       string(trimUTF8(body[:min(len(body), maxErrorBody)])),
		}
	}
	if readErr != nil {
		// The receiver accepted the request; retrying would send it again.
		p.logger.WarnContext(ctx, "http:request: reading the response body failed; keeping what was read",
			"host", call.url.Host, "error", readErr)
	}
	return &httpResult{Status: resp.StatusCode, Body: string(body), Truncated: truncated}, nil
}

// addHeaders sets the headers tuskq sends on every request: User-Agent and
// Idempotency-Key unless the payload set them, and the task's trace context.
func (p *httpProcessor) addHeaders(ctx context.Context, t *asynq.Task, h http.Header) {
	if h.Get(headerUserAgent) == "" {
		h.Set(headerUserAgent, p.userAgent)
	}
	if h.Get(HeaderIdempotencyKey) == "" {
		if id := taskID(ctx, t); id != "" {
			h.Set(HeaderIdempotencyKey, id)
		}
	}
	for _, name := range []string{tasks.HeaderTraceparent, tasks.HeaderTracestate} {
		if v := t.Headers()[name]; v != "" {
			h[name] = []string{v} // lower-case on the wire, as W3C writes it
		}
	}
}

// taskID returns the ID of the task being processed, or "".
func taskID(ctx context.Context, t *asynq.Task) string {
	if id, ok := asynq.GetTaskID(ctx); ok {
		return id
	}
	if w := t.ResultWriter(); w != nil {
		return w.TaskID()
	}
	return ""
}

// transportError classifies an error from Client.Do: refusals of the
// allow-list are returned as they are (no retry); the end of the task's
// context is handed back wrapped; a timeout of the payload and network
// errors are retried. The URL is left out: its query may hold a secret.
func (p *httpProcessor) transportError(ctx, reqCtx context.Context, call *httpCall, err error) error {
	var refused *taggedError
	if errors.As(err, &refused) {
		return refused
	}
	prefix := "http:request: " + call.method + " " + call.url.Host
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", prefix, ctx.Err())
	}
	if reqCtx.Err() != nil {
		return fmt.Errorf("%s: no response within %s (the payload's timeout): %w", prefix, call.timeout, context.DeadlineExceeded)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// writeResult stores the result of a successful request. A failure to
// store it is logged, not returned: the request was sent and accepted, and
// failing the task would send it again.
func (p *httpProcessor) writeResult(ctx context.Context, t *asynq.Task, res *httpResult) {
	w := t.ResultWriter()
	if w == nil {
		return
	}
	data, err := json.Marshal(res)
	if err == nil {
		_, err = w.Write(data)
	}
	if err != nil {
		p.logger.WarnContext(ctx, "http:request: could not store the task result", "error", err)
	}
}

// readBody reads up to MaxResultBody bytes of body, cut at a UTF-8
// boundary, reports whether there was more, and discards up to drainLimit
// further bytes so the connection can be reused.
func readBody(body io.Reader) (data []byte, truncated bool, err error) {
	data, err = io.ReadAll(io.LimitReader(body, MaxResultBody+1))
	if len(data) > MaxResultBody {
		data, truncated = trimUTF8(data[:MaxResultBody]), true
	}
	if err == nil {
		_, _ = io.CopyN(io.Discard, body, drainLimit)
	}
	return data, truncated, err
}

// trimUTF8 drops an incomplete UTF-8 sequence from the end of b, left when
// b was cut from a longer text.
func trimUTF8(b []byte) []byte {
	for i := 0; i < utf8.UTFMax-1 && len(b) > 0; i++ {
		r, size := utf8.DecodeLastRune(b)
		if r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

// rateLimitedError is the error of a 429 or 503 with Retry-After: the
// StatusError's text, and both it and a tasks.RateLimited deferral in its
// chain (a tuskq worker defers the task; elsewhere it is retried as a
// retryable StatusError).
type rateLimitedError struct {
	deferral error
	status   *StatusError
}

func (e *rateLimitedError) Error() string   { return e.status.Error() }
func (e *rateLimitedError) Unwrap() []error { return []error{e.deferral, e.status} }

// StatusError is the error of an http:request whose response status is not
// 2xx. 408, 429 and 5xx are retryable; any other status wraps
// asynq.SkipRetry, so the task is archived at once.
type StatusError struct {
	// Method and Host (with its port when the URL has one) of the request.
	Method, Host string
	// StatusCode and Status ("503 Service Unavailable") of the response.
	StatusCode int
	Status     string
	// RetryAfter is the delay the response asked for in its Retry-After
	// header, 0 when there was none.
	RetryAfter time.Duration
	// Body is the start of the response body (at most 200 bytes).
	Body string
}

// Retryable reports whether the status is worth retrying: 408, 429 or 5xx.
func (e *StatusError) Retryable() bool {
	return e.StatusCode == http.StatusRequestTimeout || e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Error describes the response: method, host, status, whether it is
// retried, Retry-After and the start of the body.
func (e *StatusError) Error() string {
	status := e.Status
	if status == "" {
		status = strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
	}
	msg := fmt.Sprintf("http:request: %s %s responded %s", e.Method, e.Host, status)
	switch {
	case e.Retryable() && e.RetryAfter > 0:
		msg += fmt.Sprintf(" (retryable; Retry-After %s)", e.RetryAfter)
	case e.Retryable():
		msg += " (retryable)"
	case e.StatusCode >= 400 && e.StatusCode < 500:
		msg += " (not retried: a 4xx other than 408 and 429 needs a changed request)"
	default:
		msg += " (not retried)"
	}
	if e.Body != "" {
		msg += ": " + strconv.Quote(e.Body)
	}
	return msg
}

// Unwrap returns asynq.SkipRetry for a status that is not retried.
func (e *StatusError) Unwrap() error {
	if e.Retryable() {
		return nil
	}
	return asynq.SkipRetry
}

// RetryAfter returns the Retry-After delay an http:request response asked
// for, when err is a retryable *StatusError with one. A worker's
// asynq.RetryDelayFunc may use it to honour the receiver's wish.
func RetryAfter(err error) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.Retryable() && se.RetryAfter > 0 {
		return se.RetryAfter, true
	}
	return 0, false
}

// parseRetryAfter parses a Retry-After header: delay seconds or an HTTP
// date. It returns 0 for an absent, malformed or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > int64(365*24*time.Hour/time.Second) {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
