package monitor

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/httpserve"
	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/internal/redisconn"
)

// Handler is the monitor's http.Handler: the asynqmon UI under the root
// path, the fleet page and API, /metrics and the health endpoints. Close
// releases its Redis connections.
type Handler struct {
	root http.Handler
	ui   *asynqmon.HTTPHandler
	// viewerUI is a read-only asynqmon served to viewers, so that the UI
	// hides the actions they may not take; nil when no viewer can exist.
	viewerUI  *asynqmon.HTTPHandler
	rdb       redis.UniversalClient
	inspector *asynq.Inspector
	fleetTmpl *template.Template
	pages     *pageSet // the schedules and limits pages
	logger    *slog.Logger
	pingTTL   time.Duration
	now       func() time.Time
	auth      *authenticator // nil without authentication
	health    *httpserve.Health
	rootPath  string
	insight   *insight.Runner   // nil with monitor.insight.enabled off
	notifier  *insight.Notifier // nil without monitor.insight.webhook
	events    *events.Publisher // the anomalies' events
}

// New builds the monitor's handler from opts. Every option but Listen,
// Status, OnListen and ShutdownTimeout is used; the listen address is
// Run's business. It does not contact Redis. Errors match
// ErrBadOptions for a bad root path, user or token, or come from the
// Redis configuration (a TLS file that cannot be read, say) and name the
// key.
func New(opts Options) (*Handler, error) {
	opts = opts.withDefaults()
	rp, err := rootPath(opts.RootPath)
	if err != nil {
		return nil, err
	}
	connOpt, err := redisconn.ConnOpt(opts.Redis)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	var auth *authenticator
	if opts.Auth.Enabled() {
		if auth, err = newAuthenticator(opts.Auth, opts.Logger, opts.Now); err != nil {
			return nil, err
		}
	}
	rdb, err := redisconn.Client(opts.Redis)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	h := &Handler{
		ui: asynqmon.New(asynqmon.Options{
			RootPath:     rp,
			RedisConnOpt: connOpt,
			ReadOnly:     opts.ReadOnly,
		}),
		rdb:       rdb,
		inspector: asynq.NewInspectorFromRedisClient(rdb),
		fleetTmpl: newFleetTemplate(),
		pages:     newPageSet(opts.Limits),
		logger:    opts.Logger,
		pingTTL:   opts.PingTimeout,
		now:       opts.Now,
		auth:      auth,
		rootPath:  rp,
	}
	if auth != nil && !opts.ReadOnly && hasViewer(opts.Auth) {
		h.viewerUI = asynqmon.New(asynqmon.Options{RootPath: rp, RedisConnOpt: connOpt, ReadOnly: true})
	}
	h.health = httpserve.NewHealth(h.Ping, opts.Logger)
	// The monitor writes the anomalies' events; the defaults are the
	// events section's (only while someone listens).
	h.events, err = events.NewPublisher(rdb, events.Options{})
	if err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if h.insight, h.notifier, err = newInsightRunner(rdb, opts, h.events); err != nil {
		_ = rdb.Close()
		return nil, err
	}

	extra := []prometheus.Collector{&limitCollector{rdb: rdb, configured: opts.Limits, timeout: opts.PingTimeout}}
	if auth != nil {
		extra = append(extra, auth.collectors()...)
	}
	if h.insight != nil {
		extra = append(extra, &insightCollector{r: h.insight})
	}
	app := http.NewServeMux()
	app.Handle(rp+"/", withNav(rp, http.HandlerFunc(h.serveUI)))
	app.HandleFunc("GET "+rp+PathFleet, h.fleetPage)
	app.HandleFunc("GET "+rp+PathFleetAPI, h.fleetAPI)
	h.handlePages(app)
	app.HandleFunc("GET "+rp+PathInsight, h.insightPage)
	app.HandleFunc("GET "+rp+PathInsightAPI, h.insightAPI)
	app.HandleFunc("GET "+rp+PathWorkflows, h.workflowsPage)
	app.HandleFunc("GET "+rp+PathWorkflowsAPI, h.workflowsAPI)
	metricsH, metricsReg := newMetricsHandler(h.inspector, rdb, opts.PingTimeout, opts.Now, opts.Logger, extra...)
	opts.Telemetry.ExportMetrics(metricsReg)
	app.Handle("GET "+PathMetrics, metricsH)
	if rp != "" {
		// "/" leads to the UI; ServeMux already redirects rp to rp+"/".
		app.Handle("GET /{$}", http.RedirectHandler(rp+"/", http.StatusFound))
	}

	var protected http.Handler = app
	for _, mw := range slices.Backward(opts.Middleware) {
		protected = mw(protected)
	}
	if auth != nil {
		protected = auth.middleware(protected)
	}
	csrf := http.NewCrossOriginProtection()
	protected = csrf.Handler(protected)
	if auth == nil {
		// With authentication, a page that rebinds its own name to this
		// address gains nothing without credentials, and the monitor may
		// be reached under any name.
		protected = loopbackHostOnly(protected)
	}

	mux := http.NewServeMux()
	mux.HandleFunc(PathHealthz, h.health.Healthz)
	mux.HandleFunc(PathReadyz, h.health.Readyz)
	mux.Handle("/", protected)
	h.root = securityHeaders(mux)
	return h, nil
}

// hasViewer reports whether a user or token has the viewer role.
func hasViewer(a config.MonitorAuthConfig) bool {
	for _, u := range a.Users {
		if u.Role == config.RoleViewer {
			return true
		}
	}
	for _, t := range a.Tokens {
		if t.Role == config.RoleViewer {
			return true
		}
	}
	return false
}

// serveUI serves asynqmon: the read-only instance to viewers.
func (h *Handler) serveUI(w http.ResponseWriter, r *http.Request) {
	if h.viewerUI != nil && principalFrom(r.Context()).role == config.RoleViewer {
		h.viewerUI.ServeHTTP(w, r)
		return
	}
	h.ui.ServeHTTP(w, r)
}

// RunInsight runs the insight engine until ctx is done (Run calls it); a
// no-op when monitor.insight.enabled is off.
func (h *Handler) RunInsight(ctx context.Context) {
	if h.insight == nil {
		return
	}
	if h.notifier != nil {
		var posting sync.WaitGroup
		posting.Go(func() { h.notifier.Run(ctx) })
		defer posting.Wait()
	}
	_ = h.insight.Run(ctx)
}

// AuthEnabled reports whether the handler requires credentials.
func (h *Handler) AuthEnabled() bool { return h.auth != nil }

// ServeHTTP serves the UI, its API and the health endpoints.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.root.ServeHTTP(w, r)
}

// RootPath returns the normalised root path: "" for "/", otherwise the
// path without its trailing slash ("/monitor").
func (h *Handler) RootPath() string { return h.rootPath }

// Close closes the Redis connections of the handler and of asynqmon.
func (h *Handler) Close() error {
	var viewer error
	if h.viewerUI != nil {
		viewer = h.viewerUI.Close()
	}
	h.events.Close()
	return errors.Join(h.ui.Close(), viewer, h.rdb.Close())
}

// Ping checks that Redis answers PING within the ping timeout.
func (h *Handler) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.pingTTL)
	defer cancel()
	if err := h.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("monitor: redis ping: %w", err)
	}
	return nil
}

// securityHeaders sets the headers that cost nothing and break nothing in
// the asynqmon UI (its inline scripts and Google fonts rule out a strict
// Content-Security-Policy): no framing, no MIME sniffing, no referrer to
// other origins.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// loopbackHostOnly answers 403 to requests whose Host header is not a
// loopback address or "localhost": without authentication, a page of
// another site must not reach the UI by pointing its own name at 127.0.0.1
// (DNS rebinding).
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !httpserve.LoopbackHost(r) {
			httpserve.Plain(w, http.StatusForbidden, fmt.Sprintf(
				"monitor: host %q is not allowed; without authentication the monitor answers only to 127.0.0.1, [::1] and localhost\n", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}
