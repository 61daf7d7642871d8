package asynqrdb

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// WorkflowKeys are the keys of one workflow (internal/workflow). They
// share the hash slot of the workflow's home queue (QueueKeyPrefix), so
// in Redis Cluster one script may touch them and the home queue's task
// keys together:
//
//	<prefix>meta    hash: state (creating, running, succeeded, failed,
//	                cancelled), policy, total, done, succeeded, failed,
//	                cancelled, skipped, released and callbacks (tasks
//	                enqueued), created and finished (Unix ms), ttl (s),
//	                cancel (set by a cancellation), trace
//	<prefix>state   hash: step → waiting, released, succeeded, failed,
//	                cancelled or skipped
//	<prefix>wait    hash: step → how many of its after steps have not
//	                succeeded (the fan-in counter)
//	<prefix>next    hash: step → JSON array of the steps waiting for it
//	<prefix>after   hash: step → JSON array of the steps it waits for
//	<prefix>msg     hash: step → its asynq task record, ready to enqueue
//	                (deleted when the step is enqueued)
//	<prefix>spec    hash: step → JSON {q: queue, id: task ID, n: enqueue
//	                nonce, d: delay in s}
//	<prefix>result  hash: step → its result (asynq's result field)
//
// The callbacks are in msg and spec under CallbackOnSuccess and
// CallbackOnComplete. When the workflow finishes, msg, wait and next are
// deleted and the rest expires after its ttl.
type WorkflowKeys struct {
	Prefix, Meta, State, Wait, Next, After, Msg, Spec, Result string
}

// NewWorkflowKeys returns the keys of workflow id whose home queue is
// home.
func NewWorkflowKeys(home, id string) WorkflowKeys {
	p := QueueKeyPrefix(home) + "tuskq:wf:" + id + ":"
	return WorkflowKeys{
		Prefix: p, Meta: p + "meta", State: p + "state", Wait: p + "wait", Next: p + "next",
		After: p + "after", Msg: p + "msg", Spec: p + "spec", Result: p + "result",
	}
}

// All returns every key of the workflow.
func (k WorkflowKeys) All() []string {
	return []string{k.Meta, k.State, k.Wait, k.Next, k.After, k.Msg, k.Spec, k.Result}
}

// WorkflowIndex is the sorted set of workflow IDs by creation time (Unix
// ms), and WorkflowHomes the hash of workflow ID to home queue; both are
// written when a workflow is created and pruned when a listing finds the
// workflow expired.
const (
	WorkflowIndex = "tuskq:workflows"
	WorkflowHomes = "tuskq:workflows:home"
)

// WorkflowTaskID is the task ID of step of workflow id: deterministic, so
// that a step can be enqueued only once.
func WorkflowTaskID(id, step string) string { return "wf:" + id + ":" + step }

// Released is a step a script enqueued.
type Released struct {
	Queue string
	// Step is the step's name (WorkflowDone, WorkflowStart) or its task ID
	// (WorkflowCancel).
	Step string
}

// WorkflowOutcome is what WorkflowDone did.
type WorkflowOutcome struct {
	// Step is false for a task that is no workflow step.
	Step bool
	// Recorded is false when the step's outcome was recorded before (a
	// re-run) or its workflow had ended.
	Recorded bool
	// Finished is true when the step ended its workflow.
	Finished bool
	// Released are the steps that waited for this one and were enqueued.
	Released []Released
}

// WorkflowDone records that the workflow step run as task id of queue
// succeeded, releases the steps whose last dependency it was and finishes
// the workflow when it was the last, in one script (idempotent: a second
// call records nothing).
func WorkflowDone(ctx context.Context, rdb redis.UniversalClient, queue, id string) (WorkflowOutcome, error) {
	vals, err := runScript(ctx, rdb, workflowDoneScript, []string{TaskKey(queue, id)})
	if err != nil {
		return WorkflowOutcome{}, fmt.Errorf("asynqrdb: workflow step %s/%s done: %w", queue, id, err)
	}
	if len(vals) < 2 {
		return WorkflowOutcome{}, nil
	}
	o := WorkflowOutcome{Step: true, Recorded: asInt(vals[0]) == 1, Finished: asInt(vals[1]) == 1}
	o.Released = pairs(vals[2:])
	return o, nil
}

// WorkflowStart releases the given root steps of the workflow k (which
// turns from creating to running) and answers those it enqueued; a root
// released before is not enqueued again.
func WorkflowStart(ctx context.Context, rdb redis.UniversalClient, k WorkflowKeys, roots []string) ([]Released, error) {
	args := make([]any, 0, len(roots)+1)
	args = append(args, k.Prefix)
	for _, r := range roots {
		args = append(args, r)
	}
	vals, err := runScript(ctx, rdb, workflowStartScript, []string{k.Meta}, args...)
	if err != nil {
		return nil, fmt.Errorf("asynqrdb: start workflow: %w", err)
	}
	return pairs(vals), nil
}

// WorkflowCancel cancels the workflow k: every step not ended is marked
// cancelled, those running are asked to stop (WorkflowCancelChannel), and
// the workflow finishes. ok is false when it had ended already. released
// are the queue and task ID of the steps that had been enqueued and not
// ended.
func WorkflowCancel(ctx context.Context, rdb redis.UniversalClient, k WorkflowKeys) (ok bool, released []Released, err error) {
	vals, err := runScript(ctx, rdb, workflowCancelScript, []string{k.Meta}, k.Prefix)
	if err != nil {
		return false, nil, fmt.Errorf("asynqrdb: cancel workflow: %w", err)
	}
	if len(vals) == 0 || asInt(vals[0]) != 1 {
		return false, nil, nil
	}
	return true, pairs(vals[1:]), nil
}

func runScript(ctx context.Context, rdb redis.UniversalClient, s script, keys []string, args ...any) ([]any, error) {
	v, err := rdb.EvalSha(ctx, s.sha, keys, args...).Slice()
	if IsNoScript(err) {
		v, err = rdb.Eval(ctx, s.src, keys, args...).Slice()
	}
	return v, err
}

func asInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

func pairs(vals []any) []Released {
	out := make([]Released, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		q, _ := vals[i].(string)
		s, _ := vals[i+1].(string)
		out = append(out, Released{Queue: q, Step: s})
	}
	return out
}
