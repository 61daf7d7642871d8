package worker

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/workflow"
	"github.com/tuskq/tuskq/tasks"
)

// workflowMiddleware records the success of workflow steps
// (workflow.Middleware) with the worker's Redis client.
func workflowMiddleware(rdb func() redis.UniversalClient, obs func(tasks.WorkflowEvent)) tasks.Middleware {
	var o workflow.Observer
	if obs != nil {
		o = func(e workflow.Event) { obs(e) }
	}
	mw := workflow.Middleware(rdb, o)
	return func(next tasks.Processor) tasks.Processor {
		h := mw(next)
		return tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error { return h.ProcessTask(ctx, t) })
	}
}

// workflowEvents returns the observer of workflow events: each is written
// to the live event log (workflow.step_released, workflow.finished, when
// someone listens; see internal/events), then passed to obs when set. It
// never blocks: the event is written asynchronously.
func (w *Worker) workflowEvents(obs func(tasks.WorkflowEvent)) func(tasks.WorkflowEvent) {
	return func(e tasks.WorkflowEvent) {
		kind := events.KindStepReleased
		if e.Kind == tasks.WorkflowFinished {
			kind = events.KindWorkflowFinished
		}
		if pub := w.events.Load(); pub != nil {
			// The live event log is best effort: a lost event is not
			// worth failing a step for (the step's state is in Redis).
			_ = pub.PublishAsync(context.Background(), events.Event{
				Kind: kind, WorkflowID: e.WorkflowID, Step: e.Step,
				Queue: e.Queue, TaskID: e.TaskID, TraceID: e.TraceID,
			})
		}
		if obs != nil {
			obs(e)
		}
	}
}
