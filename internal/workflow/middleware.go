package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// ErrRecord is wrapped by the error of a step whose processor succeeded
// but whose success could not be recorded (Redis unreachable): the
// attempt fails and the step runs again, as any failed attempt.
var ErrRecord = errors.New("workflow: record the step's success")

// recordTimeout bounds the script that records a step's success.
const recordTimeout = 10 * time.Second

// Middleware records the success of workflow steps: after the processor
// of a task with a tuskq-step header returns nil, and before asynq
// acknowledges the task, one script records the success, keeps the
// result, releases the steps waiting for it and finishes the workflow
// when it was the last (asynqrdb.WorkflowDone). It is idempotent: a step
// run again after a crash records nothing the second time. rdb returns
// the worker's Redis client (nil until the worker connected); obs may be
// nil. Other tasks pass through untouched.
func Middleware(rdb func() redis.UniversalClient, obs Observer) func(asynq.Handler) asynq.Handler {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			err := next.ProcessTask(ctx, t)
			if err != nil || t.Headers()[HeaderStep] == "" {
				return err
			}
			return record(ctx, rdb(), t, obs)
		})
	}
}

func record(ctx context.Context, rdb redis.UniversalClient, t *asynq.Task, obs Observer) error {
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	if rdb == nil || id == "" || queue == "" {
		return fmt.Errorf("%w: no Redis client or task ID", ErrRecord)
	}
	// The attempt's context may be near its deadline; the record is not
	// the processor's work and gets its own bound.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	out, err := asynqrdb.WorkflowDone(rctx, rdb, queue, id)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRecord, err)
	}
	if obs == nil || !out.Recorded {
		return nil
	}
	wf := t.Headers()[HeaderWorkflow]
	trace := traceID(t.Headers()["traceparent"])
	notify(obs, wf, trace, out.Released)
	if out.Finished {
		obs(Event{Kind: EventFinished, WorkflowID: wf, TraceID: trace})
	}
	return nil
}

// traceID is the trace ID of a W3C traceparent, or "".
func traceID(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		return ""
	}
	return parts[1]
}
