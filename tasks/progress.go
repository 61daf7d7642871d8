package tasks

import (
	"context"
	"fmt"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/taskctx"
)

// Progress reports how far the processor of the task running in ctx has
// come: pct from 0 to 100 (clamped) and an optional message (cut at 1 KiB).
// It never blocks on Redis and costs at most a few Redis writes a second
// however often it is called: the worker writes the latest report at most
// every 250ms, and always writes the last one when the attempt ends. The
// progress shows in GET /v1/queues/{queue}/tasks/{id}, in the CLI's
// --wait and as "task.progress" events (docs/events.md). Outside a tuskq
// worker's task it does nothing.
func Progress(ctx context.Context, pct float64, message string) {
	if f := taskctx.Progress(ctx); f != nil {
		f(pct, message)
	}
}

// TaskProgress is what a processor last reported of a task's progress
// (Progress).
type TaskProgress = events.Progress

// Progress returns the progress last reported for the task, or nil when
// none was (or it is older than a day).
func (c *Client) Progress(ctx context.Context, queue, id string) (*TaskProgress, error) {
	p, err := events.ReadProgress(ctx, c.rdb, queue, id)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	return p, nil
}
