package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/tasks"
)

// deferrer turns a task attempt that returned a *tasks.DeferError (a fleet
// limit refused it, or its processor returned tasks.Snooze or
// tasks.RateLimited) into a deferral: the task moves from the active list
// to the scheduled set with its retry count unchanged
// (asynqrdb.DeferActive), and the outcome script asynq's processor sends
// next for it is dropped (asynqrdb.OutcomeSkips). When the move fails
// (Redis unreachable), asynq's own retry path takes over: IsFailure does
// not count a deferral (no retry charged while retries remain) and the
// retry delay is the deferral's.
type deferrer struct {
	rdb    func() redis.UniversalClient
	skips  *asynqrdb.OutcomeSkips
	riders *asynqrdb.Riders
	logger *slog.Logger
}

// middleware is the deferrer's place in the chain, right inside the
// task line, so the line reports the deferral.
func (d *deferrer) middleware() tasks.Middleware {
	return func(next tasks.Processor) tasks.Processor {
		return tasks.ProcessorFunc(func(ctx context.Context, t *asynq.Task) error {
			err := next.ProcessTask(ctx, t)
			de, ok := tasks.Deferral(err)
			if !ok {
				return err
			}
			rdb := d.rdb()
			queue, _ := asynq.GetQueueName(ctx)
			id, _ := asynq.GetTaskID(ctx)
			if rdb == nil || queue == "" || id == "" {
				return err
			}
			// Its slots' releases would ride on the outcome script, which
			// is dropped: send them now.
			d.riders.Flush(ctx, rdb, queue, id)
			moved, merr := asynqrdb.DeferActive(context.WithoutCancel(ctx), rdb, queue, id, time.Now().Add(max(de.After, time.Second)))
			switch {
			case merr != nil:
				d.logger.WarnContext(ctx, "cannot defer the task; asynq retries it without charging a retry", "error", merr)
			case moved:
				d.skips.Add(queue, id)
			}
			return err
		})
	}
}

// The releases riding on outcome scripts that never came (a task whose
// lease ran out, say) are sent after at most ridersMaxAge+ridersInterval.
const (
	ridersInterval = 250 * time.Millisecond
	ridersMaxAge   = 500 * time.Millisecond
)

// limitsOf parses the configured limits; Validate has checked them.
func limitsOf(ls []limits.Limit, err error) []limits.Limit {
	if err != nil {
		return nil
	}
	return ls
}
