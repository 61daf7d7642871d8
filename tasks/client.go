package tasks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Route holds the defaults applied to tasks of a type, or of every type
// starting with a prefix, when the producer does not set them.
type Route struct {
	// Pattern is an exact type ("email:send") or a prefix ending in '*'
	// ("email:*"; "*" alone matches every type). An exact pattern wins over
	// prefixes; among prefixes the longest wins.
	Pattern string
	// Queue is the default queue. Empty leaves the producer's choice or
	// "default".
	Queue string
	// MaxRetry is the default retry budget; nil leaves asynq's default (25).
	MaxRetry *int
	// Timeout is the default per-attempt timeout; 0 leaves asynq's (30m).
	Timeout time.Duration
	// UniqueTTL, when positive, makes equal tasks duplicates for this long.
	UniqueTTL time.Duration
}

// EnqueueOptions are the per-task options of an enqueue. The zero value
// enqueues at once to the routed queue with the routed defaults.
type EnqueueOptions struct {
	// Queue overrides the routed queue.
	Queue string
	// ProcessAt schedules the task for a time; ProcessIn for a delay from
	// now. Set at most one.
	ProcessAt time.Time
	// ProcessIn schedules the task after a delay.
	ProcessIn time.Duration
	// MaxRetry overrides the routed retry budget; 0 means no retries.
	MaxRetry *int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Deadline bounds the whole task: attempts after it fail.
	Deadline time.Time
	// UniqueTTL rejects an equal task (type, queue, payload) with
	// asynq.ErrDuplicateTask for this long.
	UniqueTTL time.Duration
	// TaskID sets the task's ID; an existing ID is rejected with
	// asynq.ErrTaskIDConflict. Empty lets asynq pick a UUID.
	TaskID string
	// Retention keeps the completed task (and its result) this long.
	Retention time.Duration
	// Headers are extra task headers. The trace context of the enqueue's
	// ctx, when it has one, overrides traceparent and tracestate here; a
	// valid traceparent here is kept when ctx has none, so a caller that
	// received a trace from elsewhere (a CLI flag, an HTTP header) can pass
	// it on.
	Headers map[string]string
}

// TaskInfo describes an enqueued task.
type TaskInfo struct {
	*asynq.TaskInfo
	// TraceID is the hex W3C trace ID the task carries.
	TraceID string
}

// ErrBadOptions is wrapped by enqueue errors caused by the options or the
// type rather than by Redis.
var ErrBadOptions = errors.New("bad enqueue options")

// Client enqueues tasks. It is safe for concurrent use.
type Client struct {
	rdb    redis.UniversalClient
	ac     *asynq.Client
	insp   *asynq.Inspector
	routes routeTable
}

// ClientOptions configures a Client.
type ClientOptions struct {
	// Routes are the routing defaults, usually from the routes section of
	// the config.
	Routes []Route
}

// NewClient returns a Client over the given Redis connection.
func NewClient(redisOpt asynq.RedisConnOpt, opts ClientOptions) (*Client, error) {
	rt, err := newRouteTable(opts.Routes)
	if err != nil {
		return nil, err
	}
	rdb, ok := redisOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("tasks: %T does not make a go-redis client", redisOpt)
	}
	return &Client{
		rdb:    rdb,
		ac:     asynq.NewClientFromRedisClient(rdb),
		insp:   asynq.NewInspectorFromRedisClient(rdb),
		routes: rt,
	}, nil
}

// Close closes the client's Redis connections.
func (c *Client) Close() error { return c.rdb.Close() }

// Ping checks that Redis answers.
func (c *Client) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }

// Inspector returns an asynq Inspector sharing the client's connections.
func (c *Client) Inspector() *asynq.Inspector { return c.insp }

// Enqueue stores a task of the given type and payload. The trace context of
// ctx is written into the task's headers as traceparent; when ctx carries
// none, a new trace is started, so every task has a trace ID, returned in
// the TaskInfo. Options not set in opts (which may be nil) come from the
// task type's route.
func (c *Client) Enqueue(ctx context.Context, taskType string, payload []byte, opts *EnqueueOptions) (*TaskInfo, error) {
	task, aopts, traceID, err := c.build(ctx, taskType, payload, opts)
	if err != nil {
		return nil, err
	}
	info, err := c.ac.EnqueueContext(ctx, task, aopts...)
	if err != nil {
		return nil, fmt.Errorf("tasks: enqueue %q: %w", taskType, err)
	}
	return &TaskInfo{TaskInfo: info, TraceID: traceID}, nil
}

// build turns an enqueue request into an asynq task and options.
func (c *Client) build(ctx context.Context, taskType string, payload []byte, opts *EnqueueOptions) (*asynq.Task, []asynq.Option, string, error) {
	if err := ValidateType(taskType); err != nil {
		return nil, nil, "", fmt.Errorf("tasks: enqueue: %w", errors.Join(ErrBadOptions, err))
	}
	var o EnqueueOptions
	if opts != nil {
		o = *opts
	}
	if !o.ProcessAt.IsZero() && o.ProcessIn != 0 {
		return nil, nil, "", fmt.Errorf("tasks: enqueue %q: %w: set ProcessAt or ProcessIn, not both", taskType, ErrBadOptions)
	}
	if o.ProcessIn < 0 || o.Timeout < 0 || o.UniqueTTL < 0 || o.Retention < 0 {
		return nil, nil, "", fmt.Errorf("tasks: enqueue %q: %w: durations must not be negative", taskType, ErrBadOptions)
	}
	if o.MaxRetry != nil && *o.MaxRetry < 0 {
		return nil, nil, "", fmt.Errorf("tasks: enqueue %q: %w: MaxRetry %d is negative", taskType, ErrBadOptions, *o.MaxRetry)
	}
	route := c.routes.lookup(taskType)
	headers := make(map[string]string, len(o.Headers)+1)
	maps.Copy(headers, o.Headers)
	traceID := InjectTrace(ctx, headers).String()

	aopts := make([]asynq.Option, 0, 8)
	queue := o.Queue
	if queue == "" {
		queue = route.Queue
	}
	if queue != "" {
		aopts = append(aopts, asynq.Queue(queue))
	}
	switch {
	case o.MaxRetry != nil:
		aopts = append(aopts, asynq.MaxRetry(*o.MaxRetry))
	case route.MaxRetry != nil:
		aopts = append(aopts, asynq.MaxRetry(*route.MaxRetry))
	}
	timeout := o.Timeout
	if timeout == 0 && o.Deadline.IsZero() {
		timeout = route.Timeout
	}
	if timeout > 0 {
		aopts = append(aopts, asynq.Timeout(timeout))
	}
	if !o.Deadline.IsZero() {
		aopts = append(aopts, asynq.Deadline(o.Deadline))
	}
	unique := o.UniqueTTL
	if unique == 0 {
		unique = route.UniqueTTL
	}
	if unique > 0 {
		aopts = append(aopts, asynq.Unique(unique))
	}
	if o.TaskID != "" {
		aopts = append(aopts, asynq.TaskID(o.TaskID))
	}
	if o.Retention > 0 {
		aopts = append(aopts, asynq.Retention(o.Retention))
	}
	switch {
	case !o.ProcessAt.IsZero():
		aopts = append(aopts, asynq.ProcessAt(o.ProcessAt))
	case o.ProcessIn > 0:
		aopts = append(aopts, asynq.ProcessIn(o.ProcessIn))
	}
	return asynq.NewTaskWithHeaders(taskType, payload, headers), aopts, traceID, nil
}
