package logging

import "context"

// TaskFields identify the task a context belongs to. The context handler
// adds them to every record logged with that context as task_id, task_type,
// queue, retry and schedule.
type TaskFields struct {
	// ID is the asynq task ID, logged as task_id when not empty.
	ID string
	// Type is the task type (for example "email:send"), logged as task_type
	// when not empty.
	Type string
	// Queue is the queue the task came from, logged as queue when not empty.
	Queue string
	// Retry is the number of times the task has been retried so far, logged
	// as retry (0 on the first attempt).
	Retry int
	// Schedule is the name of the schedule that enqueued the task (its
	// tuskq-schedule header), logged as schedule when not empty.
	Schedule string
}

// taskKey is the context key for TaskFields.
type taskKey struct{}

// WithTask returns a copy of ctx that carries f. Records logged with the
// returned context through a handler built by [NewContextHandler] carry f's
// fields.
func WithTask(ctx context.Context, f TaskFields) context.Context {
	return context.WithValue(ctx, taskKey{}, f)
}

// TaskFromContext returns the task fields stored in ctx by [WithTask] and
// whether there were any.
func TaskFromContext(ctx context.Context) (TaskFields, bool) {
	if ctx == nil {
		return TaskFields{}, false
	}
	f, ok := ctx.Value(taskKey{}).(TaskFields)
	return f, ok
}
