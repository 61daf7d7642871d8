// Package workflow runs workflows: named steps, each an ordinary asynq
// task, that wait for one another (after), with chains, fan-out and
// fan-in (a chord) as special cases, optional on_success and on_complete
// callbacks and a failure policy. The tasks package builds them (its
// Workflow builder and Client.EnqueueWorkflow), the enqueue CLI and the
// HTTP API decode their JSON form here (DecodeJSON), and the worker
// records their steps' outcomes with Middleware.
//
// # Crash safety
//
// A workflow's state lives in Redis (asynqrdb.WorkflowKeys) and moves on
// only inside Lua scripts (internal/asynqrdb/workflow_lua.go), each one
// atomic:
//
//   - a step that succeeds is recorded by Middleware, after its processor
//     returned nil and before asynq acknowledges the task. The same script
//     decrements the counter of each step waiting for it and enqueues
//     (through tuskq's enqueue script, with a deterministic task ID
//     wf:<workflow>:<step>) those whose counter reaches zero. A worker
//     that dies after the script leaves the task to be run again (asynq's
//     lease), and the script then records nothing: a step state is moved
//     from released only once;
//   - a step that fails for good (archived: retries used up, SkipRetry,
//     cancelled) is recorded in asynq's archive script itself, wrapped by
//     asynqrdb.ServerClient;
//   - the script that records the last outcome finishes the workflow and
//     enqueues its callbacks, once.
//
// Fan-in costs one counter decrement per finished step, never a scan.
//
// # Results
//
// A step's result is what its processor wrote with asynq's
// t.ResultWriter().Write (at most asynqrdb.MaxResult bytes are kept). A
// released step finds the results of the steps it waited for in its
// tuskq-results header: a JSON object of step name to result (a JSON
// string), at most asynqrdb.MaxInlineResults bytes; results that do not
// fit are null or left out, and are read with Get (GET
// /v1/workflows/{id}).
package workflow

import (
	"errors"
	"time"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// Headers of a workflow's tasks.
const (
	// HeaderWorkflow holds the workflow ID on every step and callback.
	HeaderWorkflow = "tuskq-workflow"
	// HeaderStep holds the step's name on every step.
	HeaderStep = "tuskq-step"
	// HeaderResults holds the results of the steps a step waited for.
	HeaderResults = asynqrdb.HeaderResults
	// HeaderCounts holds, on the on_complete callback, the workflow's end
	// state and its counts of steps per outcome.
	HeaderCounts = asynqrdb.HeaderCounts
)

// Policy is what a failed step does to the rest of its workflow.
type Policy string

// Failure policies.
const (
	// FailFast: a step that fails for good cancels every step not ended
	// (those running are asked to stop) and the workflow fails.
	FailFast Policy = "fail_fast"
	// Continue: the steps that depend on a failed step, directly or not,
	// are skipped; the others still run. The workflow fails at its end.
	Continue Policy = "continue"
)

// States of a workflow.
const (
	StateCreating  = "creating"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// States of a step.
const (
	StepWaiting   = "waiting"
	StepReleased  = "released"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	StepCancelled = "cancelled"
	StepSkipped   = "skipped"
)

// Bounds of a workflow.
const (
	// MaxSteps is the most steps a workflow has.
	MaxSteps = 1_000_000
	// MaxNameLength is the longest step name and workflow ID, in bytes.
	MaxNameLength = 100
	// DefaultTTL is how long a finished workflow's state is kept when the
	// creator sets no TTL (enqueue.workflow_ttl).
	DefaultTTL = 24 * time.Hour
)

// Errors.
var (
	// ErrNotFound: no workflow has the ID (or it expired).
	ErrNotFound = errors.New("workflow not found")
	// ErrExists: a workflow with the ID exists already.
	ErrExists = errors.New("a workflow with this ID exists already")
	// ErrInvalid is wrapped by the errors of an invalid workflow.
	ErrInvalid = errors.New("invalid workflow")
	// ErrEnded: the workflow had ended before the cancellation.
	ErrEnded = errors.New("workflow has ended")
)

// TaskID is the task ID of step of workflow id (wf:<id>:<step>).
func TaskID(id, step string) string { return asynqrdb.WorkflowTaskID(id, step) }

// Event is something a workflow did, for an Observer.
type Event struct {
	// Kind is EventStepReleased or EventFinished.
	Kind string
	// WorkflowID is the workflow's ID.
	WorkflowID string
	// Step, Queue and TaskID name the step released (EventStepReleased).
	Step, Queue, TaskID string
	// TraceID is the workflow's trace ID (all its steps share it).
	TraceID string
}

// Kinds of Event.
const (
	EventStepReleased = "workflow_step_released"
	EventFinished     = "workflow_finished"
)

// Observer is told of events as the process that caused them sees them:
// the steps a finished step released and a workflow's end, from
// Middleware and Create. It must not block. A workflow ended by a failure
// (recorded inside asynq's archive script) or by Cancel is not reported by
// Middleware.
type Observer func(Event)
