package tasks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/taskspec"
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
	// UniqueUntilEnd makes equal tasks duplicates while one has not ended
	// (EnqueueOptions.UniqueUntilEnd). It excludes UniqueTTL.
	UniqueUntilEnd bool
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
	// asynq.ErrDuplicateTask for this long (asynq's Unique: the lock
	// expires after it, whatever became of the task).
	UniqueTTL time.Duration
	// UniqueKey names the task's uniqueness instead of its type and
	// payload: an equal task is one of the same queue and UniqueKey.
	// Without UniqueTTL, the uniqueness lasts until the task ends (as
	// UniqueUntilEnd).
	UniqueKey string
	// UniqueUntilEnd rejects an equal task (same queue and UniqueKey, or
	// without one the same type, queue and payload) with
	// asynq.ErrDuplicateTask while this one is pending, scheduled, active
	// or waiting for a retry; an equal task is accepted again the moment
	// this one completes, is archived or is deleted. It excludes UniqueTTL.
	UniqueUntilEnd bool
	// TaskID sets the task's ID; an existing ID is rejected with
	// asynq.ErrTaskIDConflict. Empty makes the client pick a random UUID
	// before its first attempt, as asynq would.
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
	insp   *asynq.Inspector
	routes routeTable
	// timeout is the enqueue timeout; negative means none.
	timeout time.Duration
	// ctxTimeouts says rdb bounds its reads and writes by the context's
	// deadline (go-redis's ContextTimeoutEnabled).
	ctxTimeouts bool
	// waitReplicas is ClientOptions.WaitReplicas.
	waitReplicas int
	// exactSends says rdb reports every attempt's error (see exactSends).
	exactSends bool
	// published holds the queues this client added to asynq's list of
	// queues.
	published sync.Map
	// tracer makes the PRODUCER spans; nil with tracing off.
	tracer trace.Tracer
	// events decides whether enqueues write their "enqueued" event.
	events *events.Publisher
	// workflowTTL is ClientOptions.WorkflowTTL.
	workflowTTL time.Duration
	// cluster says rdb is a Redis Cluster client.
	cluster bool
}

// ClientOptions configures a Client.
type ClientOptions struct {
	// Routes are the routing defaults, usually from the routes section of
	// the config.
	Routes []Route
	// EnqueueTimeout bounds each Enqueue, and each pipeline of EnqueueMany:
	// with no reply from Redis by then, the enqueue fails with
	// ErrEnqueueTimeout. The deadline also travels into Redis: a command
	// Redis runs after it (after a freeze, or a re-send by the connection
	// library) stores nothing, so enqueueing a timed-out task again with
	// the same task ID cannot duplicate it. The error says whether the task
	// was not stored or may have been (ErrOutcomeUnknown: the command
	// reached Redis and its reply was lost). A context with an earlier
	// deadline wins. Zero means
	// DefaultEnqueueTimeout (2s); negative means no deadline of the
	// client's own (the context's deadline, if any, still applies). The
	// config key enqueue.timeout sets it for tuskq's CLI, HTTP API and
	// demo.
	//
	// The deadline is checked against Redis's clock; a Redis clock behind
	// the producer's by more than the margin between the two deadlines (a
	// tenth of the timeout, at most 200ms) lets a late command still store
	// its task, which ErrOutcomeUnknown allows for.
	//
	// The deadline cuts a wait for Redis short when the go-redis client has
	// ContextTimeoutEnabled on, as the clients NewClient builds for asynq's
	// RedisConnOpt types and internal/redisconn's have. A RedisConnOpt of
	// your own whose client has it off makes each Enqueue wait for Redis on
	// a goroutine of its own (which costs CPU), and EnqueueMany wait up to
	// the client's ReadTimeout before reporting ErrEnqueueTimeout.
	EnqueueTimeout time.Duration
	// WaitReplicas, when positive, makes an enqueue succeed only once that
	// many replicas confirmed the write (Redis's WAIT, sent with the
	// enqueue script in the same round trip, bounded by the enqueue's
	// deadline): an acknowledged task then survives a failover to one of
	// them, which asynchronous replication alone does not promise. Fewer
	// confirmations by the deadline fail the enqueue with ErrNotReplicated
	// (the task is stored on the master). It costs the replication delay
	// on each enqueue. The config key enqueue.wait_replicas sets it.
	WaitReplicas int
	// TracerProvider, when set, makes a PRODUCER span per task enqueued
	// (Enqueue and EnqueueMany alike: one span per task, see
	// MessagingSystem), a child of the enqueue's ctx span (or of the
	// traceparent in the task's headers), and writes that span's context
	// into the task's traceparent, so the worker's spans hang under it.
	// Nil (the default) makes no span and costs nothing: the task still
	// carries the caller's trace, or a new one. Pass
	// otel.GetTracerProvider() to use the global provider.
	TracerProvider trace.TracerProvider
	// Events configures the "enqueued" events of the live event log
	// (GET /v1/events, "enqueue watch"; see docs/events.md). The zero
	// value writes them only while a listener is registered.
	Events EventsOptions
	// WorkflowTTL is how long a workflow's state (every step's state and
	// result) is kept after it ends; 0 means 24h. The config key
	// enqueue.workflow_ttl sets it for tuskq's CLI and HTTP API.
	WorkflowTTL time.Duration
}

// EventsOptions configures the events a Client or a worker writes to the
// live event log; the config section events sets them for tuskq's
// binaries.
type EventsOptions struct {
	// Mode is when events are written: "auto" (the default, "") only
	// while a listener (GET /v1/events, "enqueue watch") is registered,
	// looked for at most once a second; "always"; or "off".
	Mode string
	// MaxLen bounds each queue's event stream, in entries (trimmed
	// approximately); 0 means 100,000.
	MaxLen int64
}

// NewPublisher returns the events publisher of o writing through rdb.
// It is for tuskq's own packages (the worker, the HTTP API, workflows).
func (o EventsOptions) NewPublisher(rdb redis.UniversalClient) (*events.Publisher, error) {
	p, err := events.NewPublisher(rdb, events.Options{Mode: events.Mode(o.Mode), MaxLen: o.MaxLen})
	if err != nil {
		return nil, fmt.Errorf("tasks: %w: events: %w", ErrBadOptions, err)
	}
	return p, nil
}

// NewClient returns a Client over the given Redis connection. For asynq's
// RedisClientOpt, RedisFailoverClientOpt and RedisClusterClientOpt it builds
// the go-redis client as their MakeRedisClient does, with go-redis's
// ContextTimeoutEnabled on (see EnqueueTimeout); any other RedisConnOpt
// makes its client itself.
func NewClient(redisOpt asynq.RedisConnOpt, opts ClientOptions) (*Client, error) {
	rt, err := newRouteTable(opts.Routes)
	if err != nil {
		return nil, err
	}
	// Options are checked before any connection is made, so that a bad
	// option leaves no client (and its background goroutines) behind.
	if opts.WorkflowTTL < 0 {
		return nil, fmt.Errorf("tasks: %w: WorkflowTTL %s is negative; use 0 for the default (24h)", ErrBadOptions, opts.WorkflowTTL)
	}
	if opts.WaitReplicas < 0 {
		return nil, fmt.Errorf("tasks: %w: WaitReplicas %d is negative; use 0 to not wait for replicas", ErrBadOptions, opts.WaitReplicas)
	}
	if err := (events.Options{Mode: events.Mode(opts.Events.Mode), MaxLen: opts.Events.MaxLen}).Check(); err != nil {
		return nil, fmt.Errorf("tasks: %w: Events: %w", ErrBadOptions, err)
	}
	rdb, err := newRedisClient(redisOpt)
	if err != nil {
		return nil, err
	}
	pub, err := opts.Events.NewPublisher(rdb)
	if err != nil {
		return nil, err
	}
	timeout := opts.EnqueueTimeout
	if timeout == 0 {
		timeout = DefaultEnqueueTimeout
	}
	return &Client{
		rdb:          rdb,
		insp:         asynq.NewInspectorFromRedisClient(rdb),
		routes:       rt,
		timeout:      timeout,
		ctxTimeouts:  honoursContext(rdb),
		waitReplicas: opts.WaitReplicas,
		exactSends:   exactSends(rdb),
		tracer:       newTracer(opts.TracerProvider),
		events:       pub,
		workflowTTL:  opts.WorkflowTTL,
		cluster:      isCluster(rdb),
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
//
// Every enqueue has a task ID (a random UUID unless opts sets one) and a
// deadline (ClientOptions.EnqueueTimeout, or ctx's earlier one), and the
// task is stored by one Redis script that checks both: run after its
// deadline it stores nothing, and sent again with the same per-call nonce
// it reports the task its first send stored. A reply lost to a network
// failure is therefore sent again, until Redis answers or the deadline
// passes. So the error says what happened: asynq.ErrTaskIDConflict (the ID
// is taken by another task), asynq.ErrDuplicateTask (a unique task's lock
// is held), ErrBadOptions, a Redis error reply (nothing stored), or
// ErrEnqueueTimeout (no reply in time: not stored; enqueueing again with
// the same task ID cannot duplicate it). An enqueue whose ctx is cancelled
// fails with ctx's error and may or may not have been stored.
//
// Enqueue does not go through asynq's client: it writes asynq's task record
// and keys itself (see internal/asynqrdb), so asynq servers, the Inspector
// and asynqmon see ordinary asynq tasks.
func (c *Client) Enqueue(ctx context.Context, taskType string, payload []byte, opts *EnqueueOptions) (*TaskInfo, error) {
	r, err := c.prepare(ctx, taskType, payload, opts, cryptoRand)
	if err != nil {
		return nil, err
	}
	if r.span != nil {
		// The Redis calls of the enqueue happen under its span.
		ctx = trace.ContextWithSpan(ctx, r.span)
	}
	ctx, cancel, dl := c.withDeadline(ctx)
	defer cancel()
	t := r.wire(time.Now(), cryptoRand)
	rep := c.bounded(ctx, func(ctx context.Context) reply {
		return c.storeTasks(ctx, []wireTask{t}, dl.scriptMS)[0]
	})
	return t.finish(rep, dl, c.waitReplicas)
}

// request is an enqueue after validation, routing and trace injection: the
// options as the caller and the route set them.
type request struct {
	typ       string
	payload   []byte
	headers   map[string]string
	traceID   string
	queue     string // empty: asynq's default queue
	maxRetry  *int   // nil: asynq's default
	timeout   time.Duration
	deadline  time.Time
	uniqueTTL time.Duration
	uniqueKey string
	untilEnd  bool
	taskID    string // empty: a random UUID
	retention time.Duration
	processAt time.Time
	processIn time.Duration
	span      trace.Span // the PRODUCER span; nil with tracing off
}

// prepare validates an enqueue, applies the route and writes the trace
// context into the headers, drawing new trace IDs from rnd.
func (c *Client) prepare(ctx context.Context, taskType string, payload []byte, opts *EnqueueOptions, rnd randFunc) (request, error) {
	if err := ValidateType(taskType); err != nil {
		return request{}, fmt.Errorf("tasks: enqueue: %w", errors.Join(ErrBadOptions, err))
	}
	var o EnqueueOptions
	if opts != nil {
		o = *opts
	}
	bad := func(format string, args ...any) (request, error) {
		return request{}, fmt.Errorf("tasks: enqueue %q: %w: "+format, append([]any{taskType, ErrBadOptions}, args...)...)
	}
	// The checks every door applies (the CLI, the HTTP API, routes).
	if probs := taskspec.CheckOptions(taskspec.Options(o), time.Now()); len(probs) > 0 {
		msgs := make([]string, len(probs))
		for i, p := range probs {
			msgs[i] = taskspec.GoName(p.Field) + ": " + p.Detail
		}
		return bad("%s", strings.Join(msgs, "; "))
	}
	route := c.routes.lookup(taskType)
	r := request{
		typ:       taskType,
		payload:   payload,
		headers:   make(map[string]string, len(o.Headers)+1),
		queue:     o.Queue,
		maxRetry:  o.MaxRetry,
		timeout:   o.Timeout,
		deadline:  o.Deadline,
		uniqueTTL: o.UniqueTTL,
		uniqueKey: o.UniqueKey,
		untilEnd:  o.UniqueUntilEnd,
		taskID:    o.TaskID,
		retention: o.Retention,
		processAt: o.ProcessAt,
		processIn: o.ProcessIn,
	}
	if r.queue == "" {
		r.queue = route.Queue
	}
	if r.maxRetry == nil {
		r.maxRetry = route.MaxRetry
	}
	if r.timeout == 0 && r.deadline.IsZero() {
		r.timeout = route.Timeout
	}
	if r.uniqueTTL == 0 && !r.untilEnd && r.uniqueKey == "" {
		// A task that says nothing of uniqueness takes its route's.
		r.uniqueTTL, r.untilEnd = route.UniqueTTL, route.UniqueUntilEnd
	}
	maps.Copy(r.headers, o.Headers)
	if c.tracer != nil {
		r.span = startProducer(ctx, c.tracer, taskType, r.queue, len(payload), r.headers)
		r.traceID = r.span.SpanContext().TraceID().String()
		return r, nil
	}
	r.traceID = injectTrace(ctx, r.headers, rnd).String()
	return r, nil
}

// isCluster reports whether rdb is a Redis Cluster client.
func isCluster(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.ClusterClient)
	return ok
}
