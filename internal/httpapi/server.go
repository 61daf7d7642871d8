package httpapi

import (
	"context"
	"crypto/ed25519"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/httpserve"
	"github.com/tuskq/tuskq/internal/producer"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/telemetry"
	"github.com/tuskq/tuskq/plugins/fleetstate"
	"github.com/tuskq/tuskq/tasks"
)

// openAPI is the OpenAPI 3.1 description of the API, served at
// GET /v1/openapi.yaml.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 description of the API (YAML).
func OpenAPI() []byte { return slices.Clone(openAPI) }

// Paths of the endpoints.
const (
	PathTasks   = "/v1/tasks"
	PathBatch   = "/v1/tasks/batch"
	PathTask    = "/v1/queues/{queue}/tasks/{id}"
	PathOpenAPI = "/v1/openapi.yaml"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
)

// Route is one operation the API serves.
type Route struct {
	// Method is the HTTP method ("POST").
	Method string
	// Path is the path pattern, with {name} for a path parameter.
	Path string
	// Public routes need no token.
	Public bool
}

// String returns "METHOD PATH".
func (r Route) String() string { return r.Method + " " + r.Path }

// route is a Route and its handler.
type route struct {
	Route
	serve func(h *Handler, w http.ResponseWriter, r *http.Request, p *principal)
}

// routeTable lists every operation, in the order of the documentation.
func routeTable() []route {
	return []route{
		{Route{http.MethodPost, PathTasks, false}, (*Handler).create},
		{Route{http.MethodPost, PathBatch, false}, (*Handler).batch},
		{Route{http.MethodGet, PathTask, false}, (*Handler).get},
		{Route{http.MethodDelete, PathTask, false}, (*Handler).delete},
		{Route{http.MethodGet, PathSchedules, false}, (*Handler).listSchedules},
		{Route{http.MethodGet, PathSchedule, false}, (*Handler).getSchedule},
		{Route{http.MethodPut, PathSchedule, false}, (*Handler).putSchedule},
		{Route{http.MethodDelete, PathSchedule, false}, (*Handler).deleteSchedule},
		{Route{http.MethodPost, PathSchedulePause, false}, (*Handler).pauseSchedule},
		{Route{http.MethodPost, PathScheduleResume, false}, (*Handler).resumeSchedule},
		{Route{http.MethodPut, PathPluginBundle, false}, (*Handler).putBundle},
		{Route{http.MethodPost, PathPluginRollback, false}, (*Handler).rollbackPlugin},
		{Route{http.MethodGet, PathLimits, false}, (*Handler).listLimits},
		{Route{http.MethodPut, PathLimit, false}, (*Handler).putLimit},
		{Route{http.MethodDelete, PathLimit, false}, (*Handler).deleteLimit},
		{Route{http.MethodGet, PathEvents, false}, (*Handler).events},
		{Route{http.MethodPost, PathWorkflows, false}, (*Handler).createWorkflow},
		{Route{http.MethodGet, PathWorkflow, false}, (*Handler).getWorkflow},
		{Route{http.MethodDelete, PathWorkflow, false}, (*Handler).deleteWorkflow},
		{Route{http.MethodGet, PathOpenAPI, true}, (*Handler).openapi},
		{Route{http.MethodGet, PathHealthz, true}, (*Handler).healthz},
		{Route{http.MethodGet, PathReadyz, true}, (*Handler).readyz},
		{Route{http.MethodGet, PathMetrics, false}, (*Handler).metrics},
	}
}

// Routes lists every operation the API serves.
func Routes() []Route {
	table := routeTable()
	out := make([]Route, len(table))
	for i, rt := range table {
		out[i] = rt.Route
	}
	return out
}

// Handler is the API's http.Handler. Close releases its Redis connections.
type Handler struct {
	opts      Options
	api       config.APIConfig
	client    *tasks.Client
	insp      *asynq.Inspector
	rdb       redis.UniversalClient
	auth      *authenticator
	queues    *queueSet
	idem      *idemStore
	routes    map[string]config.RouteConfig
	validator SchemaValidator
	logger    *slog.Logger
	root      http.Handler
	health    *httpserve.Health
	metricsH  http.Handler
	// timeout is enqueue.timeout, for the enqueue-timeout problem.
	timeout time.Duration
	// trusted are plugins.trusted_keys: a published bundle must be signed
	// by one of them when there are any.
	trusted []ed25519.PublicKey
	// eventsRdb reads the event streams (GET /v1/events): a pool of its
	// own, as each stream holds a connection while it blocks.
	eventsRdb redis.UniversalClient
	// events publishes the "cancelled" event of a task deleted before it
	// ran.
	pub *events.Publisher
	// streams holds a token per event stream served (its capacity is
	// Options.MaxEventStreams).
	streams chan struct{}
}

// sharedConn hands an existing go-redis client to tasks.NewClient, so the
// task client, the inspector and the idempotency records share one pool.
type sharedConn struct{ rdb redis.UniversalClient }

// MakeRedisClient returns the shared client.
func (s sharedConn) MakeRedisClient() any { return s.rdb }

// New builds the API handler. It validates opts.Config and the tokens
// (errors match ErrBadOptions, or are a *config.ValidationError) and
// does not contact Redis.
func New(opts Options) (*Handler, error) {
	opts = opts.withDefaults()
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(cfg.API.Tokens, opts)
	if err != nil {
		return nil, err
	}
	trusted, err := fleetstate.TrustedKeys(cfg.Plugins.TrustedKeys)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	rdb, err := redisconn.ProducerClient(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	if err := opts.Telemetry.InstrumentRedis(rdb); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	rcfg := cfg.Redis
	rcfg.PoolSize = opts.MaxEventStreams + 1
	eventsRdb, err := redisconn.ProducerClient(rcfg)
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	copts := producer.ClientOptions(cfg)
	copts.TracerProvider = opts.Telemetry.TracerProvider()
	client, err := tasks.NewClient(sharedConn{rdb}, copts)
	if err != nil {
		rdb.Close()
		eventsRdb.Close()
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	pub, err := copts.Events.NewPublisher(rdb)
	if err != nil {
		rdb.Close()
		eventsRdb.Close()
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	h := &Handler{
		pub:       pub,
		opts:      opts,
		api:       cfg.API,
		client:    client,
		insp:      client.Inspector(),
		rdb:       rdb,
		auth:      auth,
		queues:    newQueueSet(cfg, client.Inspector()),
		idem:      &idemStore{rdb: rdb, ttl: cfg.API.IdempotencyTTL, wait: opts.IdempotencyWait},
		routes:    cfg.Routes,
		validator: opts.SchemaValidator,
		logger:    opts.Logger,
		timeout:   cfg.Enqueue.Timeout,
		trusted:   trusted,
		eventsRdb: eventsRdb,
		streams:   make(chan struct{}, opts.MaxEventStreams),
	}
	h.health = httpserve.NewHealth(h.Ping, opts.Logger)
	reg := prometheus.NewRegistry()
	reg.MustRegister(auth.collectors()...)
	opts.Telemetry.ExportMetrics(reg)
	h.metricsH = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	h.root = opts.Telemetry.Handler(h.accessLog(h.hostCheck(opts.Telemetry.RouteNames(h.mux()))), telemetry.ServiceAPI)
	return h, nil
}

// ServeHTTP serves the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.root.ServeHTTP(w, r) }

// Close closes the Redis connections.
func (h *Handler) Close() error {
	h.pub.Close()
	return errors.Join(h.client.Close(), h.eventsRdb.Close())
}

// Ping checks that Redis answers within the ping timeout.
func (h *Handler) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.PingTimeout)
	defer cancel()
	if err := h.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// mux routes requests with Go 1.22 method patterns, answering unknown
// paths (404) and methods (405) with problems.
func (h *Handler) mux() http.Handler {
	mux := httpserve.NewMux()
	var paths []string
	for _, rt := range routeTable() {
		if !slices.Contains(paths, rt.Path) {
			paths = append(paths, rt.Path)
		}
		mux.Handle(rt.Method+" "+rt.Path, h.authenticated(rt))
	}
	mux.NotFound = func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, newProblem(ProblemNotFound, http.StatusNotFound,
			fmt.Sprintf("no such endpoint: %s; the API serves %s (see GET %s)", r.URL.Path, strings.Join(paths, ", "), PathOpenAPI)))
	}
	mux.MethodNotAllowed = func(w http.ResponseWriter, r *http.Request, allow []string) {
		writeProblem(w, newProblem(ProblemMethodNotAllowed, http.StatusMethodNotAllowed,
			fmt.Sprintf("%s does not accept %s; use %s", r.URL.Path, r.Method, strings.Join(allow, " or "))))
	}
	return mux
}

// authenticated serves rt, after authenticating the request unless the
// route is public.
func (h *Handler) authenticated(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &principal{}
		if !rt.Public {
			var prob *Problem
			p, prob = h.auth.authenticate(w, r)
			if prob != nil {
				writeProblem(w, prob)
				return
			}
			infoOf(r.Context()).token = p.name
		}
		rt.serve(h, w, r, p)
	})
}

// hostCheck answers 403 to requests whose Host is not loopback while no
// token is configured: a web page must not reach an unauthenticated API by
// pointing its own name at 127.0.0.1 (DNS rebinding).
func (h *Handler) hostCheck(next http.Handler) http.Handler {
	if h.auth.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !httpserve.LoopbackHost(r) {
			writeProblem(w, newProblem(ProblemHostNotAllowed, http.StatusForbidden, fmt.Sprintf(
				"host %q is not allowed; without tokens the API answers only to 127.0.0.1, [::1] and localhost", r.Host)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) openapi(w http.ResponseWriter, _ *http.Request, _ *principal) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request, _ *principal) {
	h.health.Healthz(w, r)
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request, _ *principal) {
	h.health.Readyz(w, r)
}

// metrics serves the API's Prometheus metrics, to any valid token.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request, _ *principal) {
	h.metricsH.ServeHTTP(w, r)
}

// Run serves the API on opts.Config.API.Listen until ctx is cancelled,
// then shuts down gracefully: requests in flight get opts.ShutdownTimeout
// to finish. It returns nil after a shutdown.
//
// Before listening it refuses a non-loopback address when no token is
// configured (an error matching ErrInsecureListen whose text is the one
// line to show) and invalid options (ErrBadOptions, or a
// *config.ValidationError). A Redis that does not answer at start is
// reported on opts.Status and in the log, and is not an error: requests
// answer 503 until it does.
func Run(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	if err := checkListen(opts.Config.API.Listen, len(opts.Config.API.Tokens) > 0); err != nil {
		return err
	}
	h, err := New(opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := h.Close(); err != nil {
			opts.Logger.WarnContext(ctx, "closing redis connections", "error", err)
		}
	}()
	return httpserve.Run(ctx, opts.Config.API.Listen, httpserve.NewServer(h, httpserve.DefaultTimeouts), httpserve.Options{
		Name: "enqueue serve", LogName: "api", Logger: opts.Logger, ShutdownTimeout: opts.ShutdownTimeout,
		OnListen: func(addr net.Addr) {
			h.announce(ctx, "http://"+addr.String()+"/v1/")
			if opts.OnListen != nil {
				opts.OnListen(addr)
			}
		},
	})
}

// announce tells the person and the log where the API is, how it
// authenticates, and whether Redis answers.
func (h *Handler) announce(ctx context.Context, url string) {
	redisDesc := redisconn.Describe(h.opts.Config.Redis)
	auth := "no tokens: loopback only"
	switch n := len(h.api.Tokens); n {
	case 0:
	case 1:
		auth = "1 bearer token"
	default:
		auth = fmt.Sprintf("%d bearer tokens", n)
	}
	fmt.Fprintf(h.opts.Status, "enqueue serve: serving %s (Redis %s; %s)\n", url, redisDesc, auth)
	h.logger.InfoContext(ctx, "api serving",
		"url", url,
		"redis", redisDesc,
		"tokens", len(h.api.Tokens))
	if err := h.Ping(ctx); err != nil {
		fmt.Fprintf(h.opts.Status, "enqueue serve: warning: Redis %s does not answer (%v); requests answer 503 until it does\n", redisDesc, err)
		h.logger.WarnContext(ctx, "redis unreachable at start; serving anyway",
			"redis", redisDesc, "error", err)
	}
}
