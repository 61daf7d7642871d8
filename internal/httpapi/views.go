package httpapi

import (
	"encoding/json"
	"maps"
	"net/url"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

// TaskCreated is the answer to a task created: POST /v1/tasks, and each
// stored task of a batch.
type TaskCreated struct {
	// ID, Type and Queue identify the task.
	ID    string `json:"id"`
	Type  string `json:"type"`
	Queue string `json:"queue"`
	// State is "pending", or "scheduled" with a delay or a time.
	State string `json:"state"`
	// TraceID is the hex W3C trace ID the task carries: the caller's when
	// it sent a traceparent, a new one otherwise.
	TraceID string `json:"trace_id"`
	// ProcessAt is when the task is due (RFC 3339, UTC).
	ProcessAt string `json:"process_at,omitempty"`
}

// created describes an enqueued task.
func created(info *asynq.TaskInfo, traceID string) TaskCreated {
	tc := TaskCreated{ID: info.ID, Type: info.Type, Queue: info.Queue, State: info.State.String(), TraceID: traceID}
	if !info.NextProcessAt.IsZero() {
		tc.ProcessAt = info.NextProcessAt.UTC().Format(time.RFC3339)
	}
	return tc
}

// taskPath is the URL path of a task.
func taskPath(queue, id string) string {
	return "/v1/queues/" + url.PathEscape(queue) + "/tasks/" + url.PathEscape(id)
}

// BatchResult is the outcome of one task of a batch.
type BatchResult struct {
	// Index is the position of the task in the request's "tasks", from 0.
	Index int `json:"index"`
	// Status is the HTTP status the task would have had on its own: 201
	// when stored, else 400, 403, 409, 500 or 503.
	Status int `json:"status"`
	// Task describes the stored task (status 201).
	Task *TaskCreated `json:"task,omitempty"`
	// Error is the problem of a task that was not stored.
	Error *Problem `json:"error,omitempty"`
}

// BatchResponse is the answer to POST /v1/tasks/batch.
type BatchResponse struct {
	// Enqueued and Failed count the tasks stored and not stored.
	Enqueued int `json:"enqueued"`
	Failed   int `json:"failed"`
	// Results holds one entry per task, in request order.
	Results []BatchResult `json:"results"`
}

// TaskDetail is the answer to GET /v1/queues/{queue}/tasks/{id}.
type TaskDetail struct {
	// ID, Type and Queue identify the task.
	ID    string `json:"id"`
	Type  string `json:"type"`
	Queue string `json:"queue"`
	// State is pending, active, scheduled, retry, archived, completed or
	// aggregating.
	State string `json:"state"`
	// TraceID is the trace the task carries.
	TraceID string `json:"trace_id,omitempty"`
	// Payload is the payload when it is JSON; PayloadBase64 otherwise.
	Payload       json.RawMessage `json:"payload,omitempty"`
	PayloadBase64 string          `json:"payload_base64,omitempty"`
	// Headers are the task's headers other than the trace context.
	Headers map[string]string `json:"headers,omitempty"`
	// MaxRetry is the retry budget; Retried how much of it is used.
	MaxRetry int `json:"max_retry"`
	Retried  int `json:"retried"`
	// LastError and LastFailedAt describe the last failed attempt.
	LastError    string `json:"last_error,omitempty"`
	LastFailedAt string `json:"last_failed_at,omitempty"`
	// Timeout bounds one attempt (a Go duration such as "30s").
	Timeout string `json:"timeout,omitempty"`
	// Deadline bounds the whole task (RFC 3339).
	Deadline string `json:"deadline,omitempty"`
	// NextProcessAt is when a pending, scheduled or retry task is due.
	NextProcessAt string `json:"next_process_at,omitempty"`
	// CompletedAt is when a completed task completed.
	CompletedAt string `json:"completed_at,omitempty"`
	// Retention is how long a completed task is kept.
	Retention string `json:"retention,omitempty"`
	// Orphaned marks an active task whose worker stopped renewing its
	// lease; it will be recovered.
	Orphaned bool `json:"orphaned,omitempty"`
	// Result is the task's result when it is JSON; ResultBase64 otherwise.
	Result       json.RawMessage `json:"result,omitempty"`
	ResultBase64 string          `json:"result_base64,omitempty"`
	// Progress is what the processor last reported (tasks.Progress);
	// absent when it reported none.
	Progress *events.Progress `json:"progress,omitempty"`
}

// detail describes a stored task.
func detail(info *asynq.TaskInfo) TaskDetail {
	d := TaskDetail{
		ID:        info.ID,
		Type:      info.Type,
		Queue:     info.Queue,
		State:     info.State.String(),
		TraceID:   tasks.TraceIDFromHeaders(info.Headers),
		MaxRetry:  info.MaxRetry,
		Retried:   info.Retried,
		LastError: info.LastErr,
		Orphaned:  info.IsOrphaned,
	}
	d.Payload, d.PayloadBase64 = jsonOrBase64(info.Payload)
	d.Result, d.ResultBase64 = jsonOrBase64(info.Result)
	if len(info.Headers) > 0 {
		h := maps.Clone(info.Headers)
		delete(h, tasks.HeaderTraceparent)
		delete(h, tasks.HeaderTracestate)
		if len(h) > 0 {
			d.Headers = h
		}
	}
	d.LastFailedAt = rfc3339(info.LastFailedAt)
	d.Deadline = rfc3339(info.Deadline)
	d.NextProcessAt = rfc3339(info.NextProcessAt)
	d.CompletedAt = rfc3339(info.CompletedAt)
	if info.Timeout > 0 {
		d.Timeout = info.Timeout.String()
	}
	if info.Retention > 0 {
		d.Retention = info.Retention.String()
	}
	return d
}

// jsonOrBase64 shows task bytes as every door does (taskspec.JSONOrBase64).
var jsonOrBase64 = taskspec.JSONOrBase64

// rfc3339 formats t in UTC, or "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// DeleteResult is the answer to DELETE /v1/queues/{queue}/tasks/{id}.
type DeleteResult struct {
	// ID, Type and Queue identify the task.
	ID    string `json:"id"`
	Type  string `json:"type"`
	Queue string `json:"queue"`
	// Outcome is "deleted" (the task was not running and is gone),
	// "cancelled" (it was running and its worker ended it: archived or
	// deleted, see FinalState)
	// or "cancel_requested" (it is still active: its worker was asked to
	// stop it and has not; status 202).
	Outcome string `json:"outcome"`
	// State is the state the task was in when the request arrived.
	State string `json:"state"`
	// FinalState, for outcome "deleted" and "cancelled", is what became
	// of the task: "deleted", or "archived" (a running task cancelled with
	// worker.cancelled archive, kept with the error "cancelled").
	FinalState string `json:"final_state,omitempty"`
}
