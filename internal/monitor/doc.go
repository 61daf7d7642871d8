// Package monitor implements cmd/monitor: an HTTP server that mounts the
// asynqmon web UI (github.com/hibiken/asynqmon) over the configured Redis,
// plus health endpoints.
//
//	monitor [flags]
//	monitor config print | monitor config validate FILE
//
// Routes (root is monitor.root_path, "/" by default):
//
//	/healthz        liveness: 200 "ok" while the process serves HTTP
//	/readyz         readiness: 200 "ok" when Redis answers PING within a
//	                bound, 503 "redis unreachable" otherwise
//	<root>/         the asynqmon single-page UI
//	<root>/api/...  asynqmon's JSON API (GET /api/queues, ...)
//
// The health endpoints stay at the server root whatever the root path, so
// probes need not know it. /healthz does not depend on Redis on purpose: a
// Redis outage must not make an orchestrator restart the monitor, which is
// the tool operators open during that outage. Use /readyz to check Redis.
//
// # No authentication yet
//
// The UI can delete and run tasks, and it has no login (authentication
// arrives with a later issue). Until then the monitor:
//
//   - refuses to listen on an address that is not loopback (127.0.0.0/8,
//     ::1 or "localhost"), with an error matching ErrInsecureListen;
//   - answers UI and API requests only when their Host header names a
//     loopback address, so a web page cannot reach it through DNS
//     rebinding;
//   - rejects cross-origin browser requests that change state
//     (net/http.CrossOriginProtection), so a web page cannot post to it;
//   - sends X-Frame-Options, Content-Security-Policy frame-ancestors,
//     X-Content-Type-Options and Referrer-Policy on every response.
//
// # Redis down at start
//
// A Redis that does not answer at start-up is not fatal: the monitor logs a
// warning, serves, and the UI shows the errors until Redis answers; /readyz
// reports 503 meanwhile. The monitor is what operators open when Redis is
// in trouble, and a restart of Redis must not require a restart of it.
//
// # Exit codes of Main
//
// 0 after a clean shutdown (SIGTERM or SIGINT, in-flight requests get
// Options.ShutdownTimeout); 1 when the monitor cannot run (the address is
// taken, the server fails); 2 for a usage or configuration error, the
// refusal of a non-loopback address included.
//
// Later work slots in around New: Options.Middleware wraps the UI and its
// API (authentication), and further routes (metrics, fleet) join the
// ServeMux that New builds.
package monitor
