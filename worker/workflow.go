package worker

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

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
