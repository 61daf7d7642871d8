package resident

import (
	"encoding/json"
	"time"
)

// Ready is the first line a plugin process writes on stdout, once it is
// ready for requests: {"ready": true}. The runtime sends nothing before it.
type Ready struct {
	// Ready must be true.
	Ready bool `json:"ready"`
}

// Request is one task, written to the plugin's stdin as one line of JSON.
type Request struct {
	// ID identifies the request within the process; the response echoes it.
	ID string `json:"id"`
	// TaskID is the asynq task ID (stable across retries).
	TaskID string `json:"task_id"`
	// Type is the task type.
	Type string `json:"type"`
	// Payload is the payload when it is valid JSON (the convention), as
	// that JSON value.
	Payload json.RawMessage `json:"payload,omitempty"`
	// PayloadBase64 is the payload in standard base64 when it is not JSON;
	// then Payload is absent.
	PayloadBase64 []byte `json:"payload_base64,omitempty"`
	// Headers are the task's headers, with traceparent (W3C Trace Context).
	Headers map[string]string `json:"headers"`
	// Traceparent repeats headers.traceparent for convenience.
	Traceparent string `json:"traceparent,omitempty"`
	// Queue is the queue the task came from.
	Queue string `json:"queue"`
	// Retry is the number of retries so far (0 on the first attempt).
	Retry int `json:"retry"`
	// MaxRetry is the task's retry budget.
	MaxRetry int `json:"max_retry"`
	// Deadline is when the attempt must end (RFC 3339); the process is
	// killed when it has not answered by then.
	Deadline time.Time `json:"deadline,omitzero"`
	// Config is the plugin's configuration (manifest defaults and
	// fleet-wide overrides).
	Config json.RawMessage `json:"config"`
}

// Response is the plugin's answer to one Request, one line of JSON.
type Response struct {
	// ID is the request's ID.
	ID string `json:"id"`
	// Result is the task's result as any JSON value (absent or null: none).
	Result json.RawMessage `json:"result,omitempty"`
	// ResultBase64 is a binary result in standard base64, instead of Result.
	ResultBase64 []byte `json:"result_base64,omitempty"`
	// Error, when not empty, fails the attempt with this message.
	Error string `json:"error,omitempty"`
	// Retry says whether a failed attempt is retried (the default, when
	// absent) or archived at once (false).
	Retry *bool `json:"retry,omitempty"`
}
