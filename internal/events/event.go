package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kinds of event. Each attempt of a task starts with KindStarted and ends
// with exactly one of KindSucceeded, KindFailed, KindCancelled,
// KindDeferred or KindRequeued; a failed attempt is followed by
// KindRetrying (it will run again) or KindArchived (retries used up, or
// asynq.SkipRetry), or by nothing when the processor revoked the task
// (asynq.RevokeTask: dropped).
const (
	KindEnqueued  = "task.enqueued"  // stored: pending or scheduled
	KindStarted   = "task.started"   // an attempt began
	KindProgress  = "task.progress"  // the processor reported progress
	KindSucceeded = "task.succeeded" // the attempt succeeded: the task is done
	KindFailed    = "task.failed"    // the attempt failed (Error)
	KindRetrying  = "task.retrying"  // after a failure: it will run again
	KindArchived  = "task.archived"  // after a failure: retries used up or skipped
	KindCancelled = "task.cancelled" // cancelled on request
	KindDeferred  = "task.deferred"  // deferred (a limit, a snooze) without using a retry
	KindRequeued  = "task.requeued"  // handed back to its queue by a worker shutdown

	KindStepReleased     = "workflow.step_released" // a workflow step was enqueued: its dependencies completed
	KindWorkflowFinished = "workflow.finished"      // every step of a workflow ended (State)

	KindAnomalyRaised   = "anomaly.raised"   // the monitor's Insight engine raised an anomaly (State: its kind; Message: the explanation)
	KindAnomalyResolved = "anomaly.resolved" // the anomaly ended
)

// Event is one entry of the event log. Publishers set Kind, Queue and
// what they know of the task; Publish sets Time when it is zero. ID is
// the stream entry's ID, set when the event is read.
type Event struct {
	// ID is the Redis stream ID of the entry (set by the reader).
	ID string `json:"-"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Time is when the event happened (the publisher's clock).
	Time time.Time `json:"time"`
	// Queue is the task's queue; for workflow events, the queue whose
	// stream carries them ("default" when empty).
	Queue string `json:"queue"`
	// TaskType is the task's type.
	TaskType string `json:"type,omitempty"`
	// TaskID is the task's ID.
	TaskID string `json:"task_id,omitempty"`
	// WorkflowID and Step name the workflow and step the task belongs to.
	WorkflowID string `json:"workflow_id,omitempty"`
	// Step is the workflow step's name.
	Step string `json:"step,omitempty"`
	// TraceID is the hex W3C trace ID the task carries.
	TraceID string `json:"trace_id,omitempty"`
	// Attempt is the attempt's number, from 1 (0 for events outside an
	// attempt, such as KindEnqueued).
	Attempt int `json:"attempt,omitempty"`
	// Error is the attempt's error text (KindFailed, KindCancelled,
	// KindArchived, KindRetrying).
	Error string `json:"error,omitempty"`
	// Percent and Message are the progress a processor reported
	// (KindProgress); Percent is from 0 to 100.
	Percent float64 `json:"percent,omitempty"`
	// Message is the progress message.
	Message string `json:"message,omitempty"`
	// State is a workflow's final state (KindWorkflowFinished), or the
	// anomaly's kind (KindAnomalyRaised, KindAnomalyResolved: error_rate,
	// stuck_queue, ...).
	State string `json:"state,omitempty"`
}

// ErrBadEvent is wrapped by the error of an event that cannot be
// published or read.
var ErrBadEvent = errors.New("bad event")

// StreamKey returns the key of queue's event stream. Its hash tag is the
// queue's, as in asynq's keys, so it lives on the queue's Cluster node.
func StreamKey(queue string) string { return "tuskq:{" + queue + "}:events" }

// PresenceKey is the key readers keep alive while they listen (see the
// package documentation).
const PresenceKey = "tuskq:events:listeners"

// entryField is the stream entry's one field, holding the event as JSON.
const entryField = "e"

// Encode returns ev as the JSON a stream entry holds.
func Encode(ev Event) ([]byte, error) {
	if ev.Kind == "" {
		return nil, fmt.Errorf("events: %w: Kind is empty; set one of the events.Kind constants", ErrBadEvent)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("events: %w: %w", ErrBadEvent, err)
	}
	return b, nil
}

// Decode reads an event from a stream entry's JSON.
func Decode(id string, data []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return Event{}, fmt.Errorf("events: entry %s: %w: %w", id, ErrBadEvent, err)
	}
	ev.ID = id
	return ev, nil
}

// queueOf is the queue whose stream carries ev.
func queueOf(ev Event) string {
	if ev.Queue == "" {
		return "default"
	}
	return ev.Queue
}

// ErrBadOptions is wrapped by the errors of unusable options.
var ErrBadOptions = errors.New("bad events options")

// Headers of a workflow step's task, read into the events of the task.
const (
	HeaderWorkflow = "tuskq-workflow"
	HeaderStep     = "tuskq-step"
)
