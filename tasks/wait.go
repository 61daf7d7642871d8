package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// ErrTaskGone is returned by Wait when the task disappeared without a
// completion record: it completed without retention, or was deleted.
var ErrTaskGone = errors.New("task no longer exists (completed without retention, or deleted)")

// Wait polls the task until it is completed or archived, or ctx ends, and
// returns its final info. A completed task is only visible when it was
// enqueued with a Retention; without one Wait returns ErrTaskGone once the
// task is gone.
func (c *Client) Wait(ctx context.Context, queue, id string) (*asynq.TaskInfo, error) {
	return c.WaitProgress(ctx, queue, id, nil)
}

// WaitProgress is Wait that also calls progress (when not nil) with the
// task's progress (see Progress) each time it looks while the task runs.
// The same report may come more than once.
func (c *Client) WaitProgress(ctx context.Context, queue, id string, progress func(TaskProgress)) (*asynq.TaskInfo, error) {
	delay := 5 * time.Millisecond
	for {
		info, err := c.insp.GetTaskInfo(queue, id)
		if progress != nil && err == nil {
			// Progress is advice: a failed read is skipped.
			if p, perr := c.Progress(ctx, queue, id); perr == nil && p != nil {
				progress(*p)
			}
		}
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound):
			return nil, fmt.Errorf("tasks: wait for %s/%s: %w", queue, id, ErrTaskGone)
		case err != nil:
			return nil, fmt.Errorf("tasks: wait for %s/%s: %w", queue, id, err)
		case info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived:
			return info, nil
		}
		select {
		case <-ctx.Done():
			return info, fmt.Errorf("tasks: wait for %s/%s (state %s): %w", queue, id, info.State, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}
