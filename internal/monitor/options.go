package monitor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpserve"
	"github.com/tuskq/tuskq/internal/insight"
	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/internal/telemetry"
)

// Defaults applied by New and Run to zero Options fields.
const (
	// DefaultShutdownTimeout bounds how long Run lets in-flight requests
	// finish after its context is cancelled.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultPingTimeout bounds the Redis PING of /readyz and of the
	// start-up check.
	DefaultPingTimeout = 2 * time.Second
)

// Paths of the health endpoints, served at the server root whatever the
// root path.
const (
	// PathHealthz is liveness: 200 "ok" while the process serves HTTP.
	PathHealthz = "/healthz"
	// PathReadyz is readiness: 200 "ok" when Redis answers PING, 503
	// "redis unreachable" otherwise.
	PathReadyz = "/readyz"
	// PathMetrics is the Prometheus endpoint, behind the same
	// authentication as the UI.
	PathMetrics = "/metrics"
)

// Paths under the root path, besides asynqmon's.
const (
	// PathFleet is the fleet page.
	PathFleet = "/fleet"
	// PathFleetAPI is the fleet report as JSON (FleetReport).
	PathFleetAPI = "/api/v1/fleet"
	// PathLimits is the limits page: each fleet limit with its use.
	PathLimits = "/limits"
	// PathLimitsAPI is the limits page as JSON (LimitsReport).
	PathLimitsAPI = "/api/v1/limits"
	// PathSchedules is the schedules page.
	PathSchedules = "/schedules"
	// PathSchedulesAPI is the schedules page as JSON (SchedulesReport).
	PathSchedulesAPI = "/api/v1/schedules"
)

var (
	// ErrInsecureListen is matched by the error Run returns when the listen
	// address is not a loopback address and no user or token is
	// configured: without authentication the monitor serves only this
	// machine.
	ErrInsecureListen = httpserve.ErrInsecureListen
	// ErrBadOptions is matched by errors about a malformed option: an
	// empty or malformed listen address, a bad root path, or a user or
	// token that is not valid.
	ErrBadOptions = errors.New("monitor: invalid options")
)

// Options configures New and Run.
type Options struct {
	// Redis is the Redis deployment asynqmon inspects.
	Redis config.RedisConfig
	// RootPath is the URL path the UI and its API are served under, such
	// as "/" (the default when empty) or "/monitor/". A trailing slash is
	// optional. Segments may hold letters, digits, '-', '_', '.' and '~'.
	RootPath string
	// ReadOnly makes asynqmon refuse every request of its API that is not a
	// GET (405 Method Not Allowed) and hide the UI's mutating actions.
	ReadOnly bool
	// Listen is the host:port Run listens on. It must be a loopback
	// address unless Auth has a user or a token; port 0 picks a free port
	// (see OnListen).
	Listen string
	// Auth holds the users and tokens allowed in, and the failed-login
	// limit. With neither users nor tokens every request is let in, and
	// only loopback addresses and Host headers are served.
	Auth config.MonitorAuthConfig
	// Now is the clock of the failed-login limiter, the fleet page and API,
	// and the orphaned-task count (a lease that expired before Now). Nil
	// means time.Now.
	Now func() time.Time
	// Logger receives the JSON log lines. Nil discards them.
	Logger *slog.Logger
	// Status receives the one-line messages meant for a person at a
	// terminal: the URL served, a Redis unreachable at start. Nil discards
	// them.
	Status io.Writer
	// OnListen, when set, is called by Run once it serves, with the bound
	// address (useful with port 0) and after the status line is written.
	OnListen func(addr net.Addr)
	// Middleware wraps the UI, its API, the fleet endpoints and /metrics,
	// first element outermost, inside the loopback, cross-origin and
	// authentication checks. The health endpoints are not wrapped.
	Middleware []func(http.Handler) http.Handler
	// ShutdownTimeout bounds the graceful shutdown of Run. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// PingTimeout bounds the Redis PING of /readyz. Zero means
	// DefaultPingTimeout.
	PingTimeout time.Duration
	// Telemetry, when not nil, makes every request a server span and, with
	// otel.metrics, exports the registry of /metrics over OTLP. Nil makes
	// none.
	Telemetry *telemetry.Telemetry
	// Limits are the configured fleet limits (config limits); the run-time
	// overrides are read from Redis at each scrape of /metrics.
	Limits []limits.Limit
	// Insight configures the Insight page (monitor.insight).
	Insight config.InsightConfig
	// InsightEngine tunes the engine (zero: the defaults; tests shorten
	// the intervals). Its Targets come from Insight.
	InsightEngine insight.Config
	// InsightObservers are told about each anomaly raised and resolved
	// (the event hook). The replica holding the engine's lease calls them.
	InsightObservers []insight.Observer
}

// OptionsFromConfig returns the Options of the monitor and redis sections
// of cfg. The caller adds Logger, Status and the rest.
func OptionsFromConfig(cfg config.Config) Options {
	return Options{
		Redis:    cfg.Redis,
		RootPath: cfg.Monitor.RootPath,
		ReadOnly: cfg.Monitor.ReadOnly,
		Listen:   cfg.Monitor.Listen,
		Auth:     cfg.Monitor.Auth,
		Insight:  cfg.Monitor.Insight,
		// Validated by the caller's config.Load; a bad limit leaves none.
		Limits: func() []limits.Limit { ls, _ := cfg.ParsedLimits(); return ls }(),
	}
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Status == nil {
		o.Status = io.Discard
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// rootPath normalises p to "" (for "/") or "/a/b" without a trailing
// slash, the form asynqmon uses, and rejects paths that would not survive
// path cleaning or ServeMux patterns.
func rootPath(p string) (string, error) {
	if p == "" || p == "/" {
		return "", nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: monitor.root_path %q is not valid: %s; expected a URL path such as /monitor/",
			ErrBadOptions, p, why)
	}
	if !strings.HasPrefix(p, "/") {
		return "", bad("it does not start with /")
	}
	trimmed := strings.TrimSuffix(p, "/")
	for _, seg := range strings.Split(trimmed[1:], "/") {
		switch seg {
		case "":
			return "", bad("it has an empty segment")
		case ".", "..":
			return "", bad("it has a . or .. segment")
		}
		for _, r := range seg {
			if !pathRune(r) {
				return "", bad(fmt.Sprintf("%q is not allowed; use letters, digits, '-', '_', '.' and '~'", r))
			}
		}
	}
	if trimmed == PathHealthz || trimmed == PathReadyz {
		return "", bad("it is reserved for the health endpoint")
	}
	if trimmed == PathMetrics {
		return "", bad("it is reserved for the metrics endpoint")
	}
	return trimmed, nil
}

func pathRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '-' || r == '_' || r == '.' || r == '~'
}

// checkListen accepts host:port whose host is a loopback IP or
// "localhost", and any host when auth is set. Otherwise a host, an empty
// host (every interface) included, is refused with an error matching
// ErrInsecureListen.
func checkListen(addr string, auth bool) error {
	return httpserve.CheckListen(addr, httpserve.ListenRule{
		Server: "monitor", Key: "monitor.listen", Example: "127.0.0.1:8080", Auth: auth,
		Risk:    "anyone who can reach it could see and change every queue",
		Fix:     "add users (monitor.auth.users, hash passwords with 'monitor hash-password') or tokens (monitor.auth.tokens)",
		Invalid: ErrBadOptions,
	})
}
