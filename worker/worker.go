package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/httpserve"
	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/stackgrow"
	"github.com/tuskq/tuskq/internal/taskcancel"
	"github.com/tuskq/tuskq/internal/taskctx"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
)

var (
	// ErrBadOptions is wrapped by the errors New returns for unusable
	// Options (as opposed to an invalid Config, which is a
	// *config.ValidationError).
	ErrBadOptions = errors.New("bad worker options")
	// ErrRedisUnreachable is wrapped by the error Run returns when Redis
	// does not answer at start-up.
	ErrRedisUnreachable = errors.New("cannot reach Redis")
	// ErrAlreadyRun is returned by a second call of Run on the same Worker.
	ErrAlreadyRun = errors.New("worker: Run was already called; create a new Worker")
)

// Options configures a Worker.
type Options struct {
	// Config is the whole tuskq configuration; the worker reads the redis,
	// worker and log sections. It is validated by New.
	Config config.Config
	// Logger receives the worker's own lines, one line per task attempt and
	// asynq's lines (with component=asynq). Nil discards everything.
	Logger *slog.Logger
	// Registry maps task types to processors. Required.
	Registry *tasks.Registry
	// Registerer receives the tuskq_tasks_* metrics and Gatherer is served
	// on /metrics. When both are nil, the worker uses a registry of its own
	// that also holds the Go runtime and process collectors. When only
	// Registerer is set it must also be a prometheus.Gatherer (as
	// *prometheus.Registry is).
	Registerer prometheus.Registerer
	// Gatherer is served on /metrics; see Registerer.
	Gatherer prometheus.Gatherer
	// RetryDelay computes how long a failed task waits before its next
	// attempt, given the number of retries so far. Nil uses
	// asynq.DefaultRetryDelayFunc (exponential backoff with jitter, from
	// 15 s up). asynq stores retry times in whole seconds.
	RetryDelay asynq.RetryDelayFunc
	// IsFailure reports whether a processor error counts as a failed
	// attempt. A non-failure (for example a task of a disabled plugin,
	// see plugins.IsFailure) is retried without using up its MaxRetry.
	// Nil counts every error.
	IsFailure func(error) bool
	// Middleware wraps the registry inside the tuskq middleware (after
	// Recover), first outermost.
	Middleware []tasks.Middleware
	// Limits tunes the fleet limits' lease life and waits (tests shorten
	// them); the limits themselves come from Config.Limits and the
	// run-time overrides in Redis.
	Limits limits.Options
	// Servers is how many asynq servers the worker runs in its process,
	// each fetching tasks in its own loop; 0 means DefaultServers. They
	// share the registry, middleware, metrics and Redis connection pool,
	// split worker.concurrency between them, and start, pause and shut down
	// together: to Run, /readyz and /metrics they are one worker. Each
	// registers itself with asynq, so asynq's server list shows one entry
	// per server, all with the worker's host and PID.
	Servers int
	// TracerProvider, when set, makes a CONSUMER span per task attempt
	// (see tasks.InstrumentOptions.TracerProvider). Nil makes none.
	TracerProvider trace.TracerProvider
	// InstrumentRedis, when set, is called with the Redis client the
	// worker's servers share before they start (to add tracing hooks).
	InstrumentRedis func(redis.UniversalClient) error
	// PluginVersion returns the plugin version serving a task type (empty
	// for compiled-in processors), for the aggregates the monitor's
	// Insight page compares versions with. It is called every 5 s per
	// task type, never per task. Nil means no versions.
	PluginVersion func(taskType string) string
	// WorkflowObserver, when set, is told of the workflow steps this
	// worker's finished steps released and of the workflows they
	// finished (see tasks.WorkflowEvent). It must not block.
	WorkflowObserver func(tasks.WorkflowEvent)
	// SpareIdle is, with worker.wake push, how long a spare server (any
	// but the first) goes without a task before the worker shuts it down
	// until the next backlog; 0 means the package's SpareIdle.
	SpareIdle time.Duration
}

// Worker processes tasks from Redis. Create it with New and start it with
// Run; a Worker runs once.
type Worker struct {
	cfg      config.Config
	logger   *slog.Logger
	registry *tasks.Registry
	handler  tasks.Processor
	gatherer prometheus.Gatherer
	retry    asynq.RetryDelayFunc
	failure  func(error) bool
	recovery *recoveryMetrics
	skipped  *prometheus.CounterVec
	asynqLvl asynq.LogLevel
	asynqLog *logging.AsynqLogger // shared by the servers: one lifecycle line for all (poll), of the first (push)
	servers  int
	spare    time.Duration        // Options.SpareIdle, defaulted
	cancels  *taskcancel.Registry // the running tasks, for cancellations by queue and ID
	limiter  *limits.Limiter      // the fleet limits
	limits   []limits.Limit       // the configured limits (run-time overrides come from Redis)
	skips    *asynqrdb.OutcomeSkips
	riders   *asynqrdb.Riders // the limits' releases, sent with the tasks' outcomes
	ready    chan struct{}
	stopping chan struct{} // closed when the shutdown begins; see taskctx.WithStopping

	instrumentRedis func(redis.UniversalClient) error // Options.InstrumentRedis
	insight         *insight.Recorder                 // the aggregates published for the monitor's Insight page

	// events is the live event log's publisher while Run runs (nil
	// before: no events).
	events atomic.Pointer[events.Publisher]

	mu    sync.Mutex
	run   bool
	state state
	srvs  *pool
	wait  *asynqrdb.Waiter // nil when the worker polls
	rdb   redis.UniversalClient
	addr  string
}

// state is where a Worker is in its life.
type state int

const (
	stateNew state = iota
	stateRunning
	statePaused
	stateStopping
	stateStopped
)

// New checks the options and the configuration, reads the Redis TLS files
// it names, registers the metrics and builds a Worker. It does not contact
// Redis: Run does.
func New(opts Options) (*Worker, error) {
	if opts.Registry == nil {
		return nil, fmt.Errorf("worker: %w: Registry is nil; pass a *tasks.Registry with your processors registered", ErrBadOptions)
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if err := checkListen(opts.Config.Worker); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	level, err := logging.ParseLevel(opts.Config.Log.Level)
	if err != nil {
		return nil, fmt.Errorf("worker: log.level: %w", err)
	}
	// Read the TLS files now, so that a bad path is a configuration error
	// rather than a failure of Run.
	if _, err := redisconn.TLSConfig(opts.Config.Redis.TLS); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	reg, gatherer, err := metricsRegistry(opts.Registerer, opts.Gatherer)
	if err != nil {
		return nil, err
	}
	metrics, err := tasks.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("worker: register metrics: %w", err)
	}
	rec := newInsightRecorder(opts.Config.Worker, opts.PluginVersion)
	metrics.Observe(rec.Observer())
	retry := opts.RetryDelay
	if retry == nil {
		retry = asynq.DefaultRetryDelayFunc
	}
	recovery, err := newRecoveryMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("worker: register metrics: %w", err)
	}
	skipped, err := newCompletionMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("worker: register metrics: %w", err)
	}
	registry := opts.Registry
	n := servers(opts.Servers, opts.Config.Worker.Concurrency)
	cancels := taskcancel.NewRegistry()
	cancels.Delete = opts.Config.Worker.Cancelled == config.CancelledDelete
	// The cancellation registry sits inside the tuskq middleware, so the
	// task line of a cancelled attempt is written as for any other.
	configured := limitsOf(opts.Config.ParsedLimits())
	lopts := opts.Limits
	if lopts.Logger == nil {
		lopts.Logger = logger
	}
	limiter := limits.New(configured, lopts)
	skips := asynqrdb.NewOutcomeSkips()
	riders := asynqrdb.NewRiders()
	w := &Worker{}
	def := &deferrer{rdb: w.client, skips: skips, riders: riders, logger: logger}
	// The deferrer sits right inside the task line; the limits inside the
	// cancellation registry, so a task waiting for its rate start can be
	// cancelled.
	mws := append([]tasks.Middleware{def.middleware(), cancels.Middleware(), limiter.Middleware()}, opts.Middleware...)
	// Innermost: a workflow step's success is recorded (and its dependants
	// released) right after its processor returns nil (internal/workflow).
	mws = append(mws, workflowMiddleware(w.client, w.workflowEvents(opts.WorkflowObserver)))
	handler := NewHandler(registry, HandlerOptions{
		Logger:      logger,
		LogPayloads: opts.Config.Log.Payloads,
		Metrics:     metrics,
		Middleware:  mws,
		IsFailure:   opts.IsFailure,
		Tracer:      opts.TracerProvider,
		OnStart:     w.eventsStart,
		OnEnd:       w.eventsEnd,
	})
	*w = Worker{
		instrumentRedis: opts.InstrumentRedis,
		insight:         rec,
		limiter:         limiter,
		limits:          configured,
		skips:           skips,
		riders:          riders,
		cfg:             opts.Config,
		logger:          logger,
		registry:        registry,
		handler:         handler,
		gatherer:        gatherer,
		retry:           leaseRetryDelay(retry),
		failure:         leaseIsFailure(opts.IsFailure),
		recovery:        recovery,
		skipped:         skipped,
		asynqLvl:        asynqLevel(level),
		servers:         n,
		spare:           cmp.Or(opts.SpareIdle, SpareIdle),
		asynqLog:        logging.NewAsynqGroupLogger(logger, n),
		cancels:         cancels,
		ready:           make(chan struct{}),
		stopping:        make(chan struct{}),
	}
	if w.pushes() {
		// Only the first server starts and stops with the worker (the
		// spares follow the work, see pool): its lifecycle lines are the
		// worker's.
		w.asynqLog = logging.NewAsynqGroupLogger(logger, 1)
	}
	return w, nil
}

// client is the worker's Redis client once Run has connected, nil before.
func (w *Worker) client() redis.UniversalClient {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rdb
}

// metricsRegistry resolves the Registerer and Gatherer options.
func metricsRegistry(r prometheus.Registerer, g prometheus.Gatherer) (prometheus.Registerer, prometheus.Gatherer, error) {
	switch {
	case r == nil && g == nil:
		own := prometheus.NewRegistry()
		own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		return own, own, nil
	case r == nil:
		return nil, nil, fmt.Errorf("worker: %w: Gatherer is set but Registerer is nil; set both, or neither to use the worker's own registry", ErrBadOptions)
	case g == nil:
		g, ok := r.(prometheus.Gatherer)
		if !ok {
			return nil, nil, fmt.Errorf("worker: %w: Registerer %T is not a prometheus.Gatherer; set Gatherer too", ErrBadOptions, r)
		}
		return r, g, nil
	}
	return r, g, nil
}

// asynqLevel maps a slog level to asynq's, so asynq does not format lines
// the slog logger would drop.
func asynqLevel(l slog.Level) asynq.LogLevel {
	switch {
	case l <= slog.LevelDebug:
		return asynq.DebugLevel
	case l <= slog.LevelInfo:
		return asynq.InfoLevel
	case l <= slog.LevelWarn:
		return asynq.WarnLevel
	}
	return asynq.ErrorLevel
}

// Ready is closed once Run has started processing and, when worker.listen
// is set, the HTTP endpoint is listening. It is never closed when Run fails
// before that.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// Addr returns the address the HTTP endpoint is bound to, with the actual
// port when worker.listen asked for port 0. It is empty before Ready and
// when the endpoint is off.
func (w *Worker) Addr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addr
}

// Pause stops fetching new tasks; tasks in flight run to completion. It is
// what cmd/worker does on SIGTSTP. A paused worker answers 503 on /readyz
// and cannot resume: cancel Run's context to shut it down. Pause does
// nothing unless the worker is running.
func (w *Worker) Pause() {
	w.mu.Lock()
	if w.state != stateRunning {
		w.mu.Unlock()
		return
	}
	w.state = statePaused
	srvs, wait := w.srvs, w.wait
	w.mu.Unlock()
	w.logger.Info("worker pausing: no new tasks will be fetched")
	stopWaiting(wait)
	srvs.stop()
	w.logger.Info("worker paused")
}

// Run connects to Redis, starts processing and serving the HTTP endpoint,
// and blocks until ctx is cancelled; it then shuts down gracefully (see the
// package documentation) and returns nil. It returns an error wrapping
// ErrRedisUnreachable when Redis does not answer at start-up, ctx's error
// when ctx ends before the start, and an error when the endpoint cannot
// listen or stops serving.
//
// Task contexts do not derive their cancellation from ctx, only its values:
// cancelling ctx starts the graceful shutdown, it does not abort tasks.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.run {
		w.mu.Unlock()
		return ErrAlreadyRun
	}
	w.run = true
	w.mu.Unlock()

	rdb, err := redisconn.Client(w.cfg.Redis)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer rdb.Close()
	if w.instrumentRedis != nil {
		if err := w.instrumentRedis(rdb); err != nil {
			return fmt.Errorf("worker: %w", err)
		}
	}
	if err := w.ping(ctx, rdb, w.cfg.Redis.DialTimeout+w.cfg.Redis.ReadTimeout); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("worker: cancelled before start: %w", ctx.Err())
		}
		return fmt.Errorf("worker: %w at %s: %w", ErrRedisUnreachable, redisconn.Describe(w.cfg.Redis), err)
	}

	// Cancellations name a task by queue and ID (asynq's own are by ID
	// alone, which task IDs unique per queue only do not allow).
	stopCancels, err := w.cancels.Listen(ctx, rdb, w.logger)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer stopCancels()

	var ln net.Listener
	if listen := w.cfg.Worker.Listen; listen != "" {
		if ln, err = net.Listen("tcp", listen); err != nil {
			return fmt.Errorf("worker: worker.listen: %w", err)
		}
		defer ln.Close()
	}

	handler := asynq.Handler(w.handler)
	var records *completionRecords
	if w.cfg.Worker.CompletionRecord {
		records = &completionRecords{
			rdb: rdb, ttl: w.cfg.Worker.CompletionRecordTTL, logger: w.logger,
			skipped: w.skipped, label: w.metricsLabel, stop: make(chan struct{}),
		}
		handler = records.wrap(handler)
	}
	// The limits: leases renewed and run-time overrides followed until
	// the servers have shut down (tasks still running keep their slots).
	limitsCtx, stopLimits := context.WithCancel(context.WithoutCancel(ctx))
	w.mu.Lock()
	w.rdb = rdb
	w.mu.Unlock()
	// One batcher for the worker: the limits' scripts and the scripts that
	// record finished tasks share its round trips.
	batch := asynqrdb.NewScriptBatcher(rdb)
	w.limiter.Share(batch, w.riders)
	pub, err := tasks.EventsOptions{Mode: w.cfg.Events.Publish, MaxLen: int64(w.cfg.Events.MaxLen)}.NewPublisher(rdb)
	if err != nil {
		stopLimits()
		return fmt.Errorf("worker: %w", err)
	}
	w.events.Store(pub)
	defer pub.Close()
	w.limiter.Start(limitsCtx, rdb)
	var watching sync.WaitGroup
	watching.Go(func() { limits.Watch(limitsCtx, rdb, w.limiter, w.limits, 0, w.logger) })
	watching.Go(func() { w.riders.Run(limitsCtx, rdb, ridersInterval, ridersMaxAge) })
	defer func() { stopLimits(); watching.Wait() }()
	wait, err := w.newWaiter()
	if err != nil {
		return err
	}
	defer stopWaiting(wait)
	srvs, err := w.startServers(ctx, rdb, batch, handler, wait)
	if err != nil {
		return err
	}
	publishCtx, stopPublishing := context.WithCancel(context.WithoutCancel(ctx))
	var publishing sync.WaitGroup
	publishing.Go(func() { w.publishInsight(publishCtx, rdb) })
	defer func() { stopPublishing(); publishing.Wait() }()
	stopRecovery := make(chan struct{})
	var recovery sync.WaitGroup
	if w.cfg.Worker.OrphanCheckInterval > 0 {
		recovery.Go(func() { w.recoverOrphans(rdb, stopRecovery) })
	}
	w.mu.Lock()
	w.srvs, w.wait, w.rdb, w.state = srvs, wait, rdb, stateRunning
	if ln != nil {
		w.addr = ln.Addr().String()
	}
	w.mu.Unlock()

	serveErr := make(chan error, 1)
	var hs *http.Server
	if ln != nil {
		hs = httpserve.NewServer(w.HTTPHandler(), httpserve.DefaultTimeouts)
		go func() { serveErr <- hs.Serve(ln) }()
	}
	close(w.ready)
	wc := w.cfg.Worker
	w.logger.InfoContext(ctx, "worker started",
		"listen", w.Addr(),
		"redis", redisconn.Describe(w.cfg.Redis),
		"concurrency", wc.Concurrency,
		"servers", w.servers,
		"queues", wc.Queues,
		"strict_priority", wc.StrictPriority,
		"task_types", w.registry.Types())

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("worker: serve %s: %w", w.Addr(), err)
	}

	w.setState(stateStopping)
	close(w.stopping)
	w.logger.InfoContext(ctx, "worker stopping: no new tasks; waiting for tasks in flight",
		"shutdown_timeout", wc.ShutdownTimeout)
	start := time.Now()
	stopWaiting(wait) // idle servers stop waiting at once
	srvs.shutdown()
	close(stopRecovery)
	recovery.Wait()
	if records != nil {
		records.shutdown(5 * time.Second)
	}
	if hs != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = hs.Shutdown(sctx) // a client still attached after 5 s is dropped
		cancel()
	}
	w.setState(stateStopped)
	w.logger.InfoContext(ctx, "worker stopped", "shutdown_ms", float64(time.Since(start).Microseconds())/1000)
	return runErr
}

// pushes reports whether the worker waits for wake-up tokens rather than
// polling: worker.wake push (in Redis Cluster too, where a server of
// several queues waits on each queue's marker on its own node).
func (w *Worker) pushes() bool {
	return w.cfg.Worker.Wake == config.WakePush
}

// newWaiter returns the waiter of the worker's idle servers, with a Redis
// client of its own for the blocking waits, or nil when the worker polls.
func (w *Worker) newWaiter() (*asynqrdb.Waiter, error) {
	if !w.pushes() {
		return nil, nil
	}
	// Without go-redis's own re-sends: a wait broken by a Redis restart or
	// failover must end (and the server fetch) rather than be sent again
	// and block on, while tokens pushed before the outage may be lost.
	wrdb, err := redisconn.ProducerClient(w.cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return asynqrdb.NewWaiter(wrdb, asynqrdb.WaiterOptions{Fallback: w.cfg.Worker.WakeFallback}), nil
}

// stopWaiting ends the blocking waits of the idle servers, if any.
func stopWaiting(wait *asynqrdb.Waiter) {
	if wait != nil {
		wait.Stop()
	}
}

// startServers starts the worker's asynq servers on rdb; with wait, their
// idle fetches wait for wake-up tokens and the spare servers run only
// while there is work (see pool). When one fails to start, those already
// started are shut down.
func (w *Worker) startServers(ctx context.Context, rdb redis.UniversalClient, batch *asynqrdb.ScriptBatcher, handler asynq.Handler, wait *asynqrdb.Waiter) (*pool, error) {
	// Each server talks to Redis through an asynqrdb.ServerClient: with several
	// queues (outside Redis Cluster) one round trip per fetch whatever the
	// number of empty queues, with worker.wake push a blocking wait instead
	// of a poll when every queue is empty, and the scripts that record
	// finished tasks share round trips through one batcher for the whole
	// worker.
	qs := asynqrdb.FetchQueues(w.cfg.Worker.Queues)
	multi := len(qs) > 1 && w.cfg.Redis.Mode != config.ModeCluster
	slots := splitConcurrency(w.cfg.Worker.Concurrency, w.servers)
	mk := func(i int, h asynq.Handler) (*asynq.Server, *asynqrdb.MultiFetch, error) {
		var fetch *asynqrdb.MultiFetch
		if multi || wait != nil {
			fetch = asynqrdb.NewMultiFetch(rdb, qs, w.cfg.Worker.StrictPriority)
			if !multi && len(qs) > 1 {
				// Redis Cluster: queue by queue, as asynq fetches there.
				fetch.PerQueue()
			}
		}
		if wait != nil {
			// The first server fetches at worker.wake_fallback when no
			// token comes (tasks of producers that know nothing of tuskq);
			// the spares, which run only while there is work, rarely:
			// once the first finds such a task it fetches again at once,
			// until the queues are empty.
			fallback := w.cfg.Worker.WakeFallback
			if i > 0 {
				fallback = max(fallback, SecondaryWakeFallback)
			}
			fetch.Wait(wait, fallback)
		}
		client := asynqrdb.NewServerClient(rdb, fetch, batch)
		// A task cancelled on request ends (archived or deleted), never
		// retried (internal/taskcancel).
		client.EndCancelled(w.cancels.TakeCancelled, w.cancels.Delete)
		client.SkipOutcomes(w.skips)
		client.SendRiders(w.riders)
		acfg := w.asynqConfig(ctx, slots[i])
		if wait != nil {
			acfg.JanitorInterval = JanitorInterval
			if multi || len(qs) == 1 {
				// One round trip forwards every queue's due tasks
				// (in Redis Cluster only a single queue's sets share a slot).
				client.ForwardTogether(asynqrdb.NewForwardTogether(rdb, qs))
			}
		}
		switch {
		case i > 0 && wait == nil:
			// Polling: the secondary servers poll slowly.
			acfg.TaskCheckInterval = max(acfg.TaskCheckInterval, SecondaryTaskCheckInterval)
		case i > 0:
			// Push: the first server forwards due scheduled and retry
			// tasks at worker.delayed_task_check_interval and its tokens
			// wake whichever server waits; the spares forward rarely, as
			// a backup. They log asynq's warnings and errors only: their
			// start and stop follow the work and are not news.
			acfg.DelayedTaskCheckInterval = max(acfg.DelayedTaskCheckInterval, SecondaryDelayedTaskCheckInterval)
			acfg.Logger = logging.NewAsynqLogger(w.logger)
			acfg.LogLevel = max(acfg.LogLevel, asynq.WarnLevel)
		}
		srv := asynq.NewServerFromRedisClient(client, acfg)
		if err := srv.Start(h); err != nil {
			return nil, nil, fmt.Errorf("worker: start: %w", err)
		}
		return srv, fetch, nil
	}
	p := newPool(slots, wait != nil, w.spare, handler, mk)
	if err := p.start(); err != nil {
		return nil, err
	}
	return p, nil
}

// asynqConfig builds the configuration of one asynq server of the worker,
// with concurrency slots.
func (w *Worker) asynqConfig(ctx context.Context, concurrency int) asynq.Config {
	wc := w.cfg.Worker
	base := taskctx.WithStopping(context.WithoutCancel(ctx), w.stopping)
	shutdown := wc.ShutdownTimeout
	if shutdown <= 0 {
		// asynq reads 0 as "8s"; tuskq reads it as "hand back at once".
		shutdown = time.Nanosecond
	}
	return asynq.Config{
		Concurrency: concurrency,
		// asynq calls BaseContext first thing on the new goroutine it
		// starts for each task, the one that later reports the outcome to
		// Redis through go-redis; growing that goroutine's stack there, at
		// the top, saves the repeated growth go-redis's deep call path
		// would cost (see internal/stackgrow).
		BaseContext: func() context.Context {
			stackgrow.Grow()
			return w.cancels.BaseContext(base)
		},
		Queues:                   wc.Queues,
		StrictPriority:           wc.StrictPriority,
		ShutdownTimeout:          shutdown,
		TaskCheckInterval:        wc.TaskCheckInterval,
		DelayedTaskCheckInterval: wc.DelayedTaskCheckInterval,
		RetryDelayFunc:           w.retry,
		IsFailure:                w.failure,
		Logger:                   w.asynqLog,
		LogLevel:                 w.asynqLvl,
	}
}

func (w *Worker) setState(s state) {
	w.mu.Lock()
	w.state = s
	w.mu.Unlock()
}

// metricsLabel is the task_type label of taskType: its name when the
// registry has a processor for it, tasks.UnregisteredLabel otherwise, so
// that unknown types cannot grow the number of series.
func (w *Worker) metricsLabel(taskType string) string {
	if _, ok := w.registry.Lookup(taskType); ok {
		return taskType
	}
	return tasks.UnregisteredLabel
}

// ping checks that Redis answers within timeout (5 s when timeout is 0).
func (w *Worker) ping(ctx context.Context, rdb redis.UniversalClient, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return rdb.Ping(ctx).Err()
}
