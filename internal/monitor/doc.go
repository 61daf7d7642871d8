// Package monitor implements cmd/monitor: an HTTP server that mounts the
// asynqmon web UI (github.com/hibiken/asynqmon) over the configured Redis,
// with authentication, Prometheus metrics, a fleet view and health
// endpoints.
//
//	monitor [flags]
//	monitor hash-password [--cost N] < password
//	monitor config print | monitor config validate FILE
//
// Routes (root is monitor.root_path, "/" by default):
//
//	/healthz             liveness: 200 "ok" while the process serves HTTP
//	/readyz              readiness: 200 "ok" when Redis answers PING within
//	                     a bound, 503 "redis unreachable" otherwise
//	/metrics             Prometheus: asynq's queue metrics, fleet gauges,
//	                     orphaned tasks per queue, Redis reachability,
//	                     login counters, active anomalies and forecasts
//	<root>/              the asynqmon single-page UI, with tuskq's pages
//	                     added to its side drawer (ui.AsynqmonNav)
//	<root>/api/...       asynqmon's JSON API (GET /api/queues, ...)
//	<root>/fleet         the worker processes, their plugin versions and
//	                     the queues' orphaned tasks
//	<root>/api/v1/fleet  the same as JSON (FleetReport)
//	<root>/schedules     the schedules and their ticks
//	<root>/api/v1/schedules  the same as JSON (SchedulesReport)
//	<root>/limits        the fleet limits and their current use
//	<root>/api/v1/limits the same as JSON (LimitsReport)
//	<root>/insight       anomalies, forecasts and baselines (internal/insight)
//	<root>/api/v1/insight  the same as JSON (insight.Report)
//
// tuskq's pages are drawn by package ui, a shell with asynqmon's look and
// the same side navigation (docs/monitor.md).
//
// The health endpoints stay at the server root whatever the root path, so
// probes need not know it, and never require credentials. /healthz does
// not depend on Redis on purpose: a Redis outage must not make an
// orchestrator restart the monitor, which is the tool operators open
// during that outage. Use /readyz to check Redis.
//
// # Authentication
//
// With users (HTTP Basic, bcrypt hashes) or tokens (Bearer) in
// Options.Auth, every route but the health ones requires them. A viewer
// gets a read-only asynqmon and 403 for every method but GET, HEAD and
// OPTIONS; an admin may do everything. Failed logins are logged with the
// client address and limited per address (429 with Retry-After).
// Credentials are compared in constant time and never logged.
//
// Without users or tokens the monitor:
//
//   - refuses to listen on an address that is not loopback (127.0.0.0/8,
//     ::1 or "localhost"), with an error matching ErrInsecureListen whose
//     text says how to configure authentication;
//   - answers only requests whose Host header names a loopback address, so
//     a web page cannot reach it through DNS rebinding.
//
// Either way it rejects cross-origin browser requests that change state
// (net/http.CrossOriginProtection) and sends X-Frame-Options,
// Content-Security-Policy frame-ancestors, X-Content-Type-Options and
// Referrer-Policy on every response.
//
// # Redis down at start
//
// A Redis that does not answer at start-up is not fatal: the monitor logs a
// warning, serves, and the UI shows the errors until Redis answers; /readyz
// reports 503 and /metrics tuskq_monitor_redis_up 0 meanwhile. The monitor
// is what operators open when Redis is in trouble, and a restart of Redis
// must not require a restart of it.
//
// # Exit codes of Main
//
// 0 after a clean shutdown (SIGTERM or SIGINT, in-flight requests get
// Options.ShutdownTimeout); 1 when the monitor cannot run (the address is
// taken, the server fails); 2 for a usage or configuration error, the
// refusal of a non-loopback address without authentication included.
package monitor
