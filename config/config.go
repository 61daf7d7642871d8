// Package config holds the one configuration struct shared by the tuskq
// binaries (worker, enqueue, monitor), its defaults, and the loading rules.
//
// Configuration is built in layers, each overriding the one before:
//
//	defaults → YAML file (--config or TUSKQ_CONFIG) → environment (TUSKQ_*) → flags
//
// Every key has an environment variable: TUSKQ_ followed by the key path
// upper-cased with "." replaced by "_" (redis.addr → TUSKQ_REDIS_ADDR,
// worker.shutdown_timeout → TUSKQ_WORKER_SHUTDOWN_TIMEOUT). Lists are
// comma-separated; maps are comma-separated name=value pairs
// (TUSKQ_WORKER_QUEUES="critical=6,default=3,low=1").
//
// Routes are not read from the environment; they come from the file or
// from flags (--set routes.email:send.queue=critical). A file may write a
// value in its string form too (queues: "critical=6,low=1", addrs:
// "a:1,b:2", concurrency: "5"); null means the zero value.
//
// Loading is strict: an unknown key is an error that names the key, the file
// and the closest valid key, and Validate reports every invalid value at once.
// Fields tagged secret:"true" are masked by Write.
package config

import "time"

// Redis modes accepted in RedisConfig.Mode.
const (
	ModeStandalone = "standalone"
	ModeSentinel   = "sentinel"
	ModeCluster    = "cluster"
)

// Log formats accepted in LogConfig.Format.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// Config is the whole configuration of a tuskq process. Each binary reads the
// sections it needs and ignores the rest, so one file can serve a fleet.
type Config struct {
	// Redis is the connection to the Redis deployment that holds the queues.
	Redis RedisConfig `koanf:"redis"`
	// Worker configures cmd/worker: queues, concurrency, shutdown, endpoints.
	Worker WorkerConfig `koanf:"worker"`
	// Routes maps a task type ("email:send") or a prefix pattern ("email:*")
	// to defaults applied by every producer (Go client, CLI, HTTP API) when
	// the caller does not set them. An exact type wins over a pattern; among
	// patterns the longest prefix wins.
	Routes map[string]RouteConfig `koanf:"routes"`
	// Schedules maps a schedule name to a periodic task that every worker
	// with Worker.Scheduler on enqueues once per tick, fleet-wide
	// (docs/configuration.md, "schedules"). ParseSchedules decodes them.
	Schedules map[string]ScheduleConfig `koanf:"schedules"`
	// Log configures the JSON or text logs every binary writes to stderr.
	Log LogConfig `koanf:"log"`
	// Monitor configures cmd/monitor.
	Monitor MonitorConfig `koanf:"monitor"`
	// API configures the HTTP enqueue API served by "enqueue serve".
	API APIConfig `koanf:"api"`
	// Plugins configures the task handlers the worker loads at run time
	// (docs/plugins.md).
	Plugins PluginsConfig `koanf:"plugins"`
	// Enqueue configures every producer tuskq builds from the config: the
	// enqueue CLI, the HTTP API and the demo.
	Enqueue EnqueueConfig `koanf:"enqueue"`
	// OTel configures OpenTelemetry tracing: spans for enqueues, task
	// attempts, HTTP requests and webhook calls, exported over OTLP. Off
	// by default (see otel.go and docs/configuration.md).
	OTel OTelConfig `koanf:"otel"`
	// Limits are the fleet-wide concurrency and rate limits every worker
	// enforces together (docs/operations.md, Limits); run-time changes
	// ("worker limits set", the HTTP API) override them by name.
	Limits []LimitConfig `koanf:"limits"`
	// Events configures the live event log (GET /v1/events, "enqueue
	// watch") the producers and workers write (docs/events.md).
	Events EventsConfig `koanf:"events"`
}

// EventsConfig configures the live event log.
type EventsConfig struct {
	// Publish says when events are written: "auto" (the default) only
	// while a listener is registered, "always", or "off".
	Publish string `koanf:"publish"`
	// MaxLen bounds each queue's event stream, in entries (trimmed
	// approximately). Defaults to 100000 (also when 0).
	MaxLen int `koanf:"max_len"`
}

// LimitConfig is one fleet-wide limit, written as strings (numbers are
// accepted in a file). internal/limitspec.Parse reads it.
type LimitConfig struct {
	// Name identifies the limit (letters, digits, '_', '.', ':', '-').
	Name string `koanf:"name"`
	// Type is a task type or a prefix pattern ("report:*"), as in routes.
	Type string `koanf:"type"`
	// Queue limits the tasks of one queue (with Type: of that type in it).
	Queue string `koanf:"queue"`
	// Concurrency caps the matching tasks running at once in the fleet.
	Concurrency string `koanf:"concurrency"`
	// Rate caps their starts: "100/s", "50/m", "10/h", "5/10s".
	Rate string `koanf:"rate"`
	// Burst is how many starts the rate allows at once (default 1).
	Burst string `koanf:"burst"`
	// Key applies the limit per value of "payload.FIELD" or "header.NAME".
	Key string `koanf:"key"`
	// MaxKeys bounds the key values tracked (default 10000).
	MaxKeys string `koanf:"max_keys"`
}

// EnqueueConfig configures producers.
type EnqueueConfig struct {
	// Timeout bounds one enqueue (or one batch) against Redis. It travels
	// with the command into Redis: a command Redis runs after it (after a
	// freeze, or a client's re-send) stores nothing, so an enqueue reported
	// as failed was never stored. Defaults to 2s.
	Timeout time.Duration `koanf:"timeout"`
	// WaitReplicas, when positive, acknowledges an enqueue only once that
	// many replicas confirmed it (Redis WAIT, within enqueue.timeout): the
	// task then survives a failover to one of them, which asynchronous
	// replication alone does not promise. Fewer confirmations fail the
	// enqueue with a "not replicated" error although the master stored the
	// task. 0 (the default) does not wait.
	WaitReplicas int `koanf:"wait_replicas"`
	// WorkflowTTL is how long a workflow's state (every step's state and
	// result) is kept in Redis after the workflow ends. Defaults to 24h.
	WorkflowTTL time.Duration `koanf:"workflow_ttl"`
}

// RedisConfig says how to reach Redis.
type RedisConfig struct {
	// Mode is one of standalone, sentinel or cluster. Defaults to standalone.
	Mode string `koanf:"mode"`
	// Addr is host:port of the server in standalone mode.
	// Defaults to 127.0.0.1:6379.
	Addr string `koanf:"addr"`
	// Addrs lists host:port of the sentinels (sentinel mode) or of the
	// cluster seed nodes (cluster mode).
	Addrs []string `koanf:"addrs"`
	// MasterName is the name of the master set watched by the sentinels.
	// Required in sentinel mode.
	MasterName string `koanf:"master_name"`
	// Username for Redis ACL authentication (Redis 6+). Optional.
	Username string `koanf:"username"`
	// Password for Redis authentication. Secret: masked when printed.
	Password string `koanf:"password" secret:"true"`
	// SentinelPassword authenticates to the sentinels themselves when they
	// require it. Secret: masked when printed.
	SentinelPassword string `koanf:"sentinel_password" secret:"true"`
	// DB is the database number (standalone and sentinel only; cluster mode
	// has only database 0). Defaults to 0.
	DB int `koanf:"db"`
	// TLS enables and configures TLS to Redis.
	TLS TLSConfig `koanf:"tls"`
	// PoolSize is the maximum number of connections per process.
	// 0 keeps go-redis's default (10 per CPU).
	PoolSize int `koanf:"pool_size"`
	// DialTimeout bounds establishing a connection. Defaults to 5s.
	DialTimeout time.Duration `koanf:"dial_timeout"`
	// ReadTimeout bounds a socket read. Defaults to 3s.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// WriteTimeout bounds a socket write. Defaults to 3s.
	WriteTimeout time.Duration `koanf:"write_timeout"`
}

// TLSConfig configures TLS for the Redis connection.
type TLSConfig struct {
	// Enabled turns TLS on. Setting any other field below also turns it on.
	Enabled bool `koanf:"enabled"`
	// CAFile is a PEM file of CAs that sign the server's certificate.
	// Empty uses the system roots.
	CAFile string `koanf:"ca_file"`
	// CertFile and KeyFile are the client certificate and key for mutual
	// TLS. Both or neither.
	CertFile string `koanf:"cert_file"`
	// KeyFile is the PEM private key for CertFile.
	KeyFile string `koanf:"key_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `koanf:"server_name"`
	// InsecureSkipVerify disables certificate verification. Tests only.
	InsecureSkipVerify bool `koanf:"insecure_skip_verify"`
}

// Values of worker.wake.
const (
	// WakePush: idle workers wait for a wake-up token pushed by each
	// enqueue, with a fetch every worker.wake_fallback.
	WakePush = "push"
	// WakePoll: idle workers poll every worker.task_check_interval.
	WakePoll = "poll"
)

// Values of worker.cancelled.
const (
	// CancelledArchive: a task cancelled on request is archived with the
	// error "cancelled", where asynqmon and the HTTP API show it.
	CancelledArchive = "archive"
	// CancelledDelete: a task cancelled on request is deleted.
	CancelledDelete = "delete"
)

// WorkerConfig configures cmd/worker.
type WorkerConfig struct {
	// Concurrency is the number of tasks processed at once per process.
	// Defaults to 20.
	Concurrency int `koanf:"concurrency"`
	// Queues maps queue names to weights. With weights, a queue of weight 6
	// is polled six times as often as one of weight 1. Defaults to
	// critical: 6, default: 3, low: 1.
	Queues map[string]int `koanf:"queues"`
	// StrictPriority processes queues in order of weight, highest first: a
	// lower queue is served only when every higher one is empty.
	StrictPriority bool `koanf:"strict_priority"`
	// ShutdownTimeout is how long in-flight tasks may run after SIGTERM or
	// SIGINT before they are handed back to Redis for another worker.
	// Keep it below the container's stop grace period. Defaults to 8s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// TaskCheckInterval is how long an idle worker waits before polling its
	// queues again. Lower means faster pickup and more Redis commands per
	// idle worker (see docs/benchmarks.md and docs/operations.md). Defaults
	// to 10ms: a p99 pickup of about 15 ms for about 1 % of a Redis core
	// per idle worker.
	TaskCheckInterval time.Duration `koanf:"task_check_interval"`
	// DelayedTaskCheckInterval is how often scheduled and retry tasks that
	// came due are moved to their queue. Defaults to 5s (asynq's default;
	// each check costs 4 Redis commands per queue, see docs/operations.md).
	DelayedTaskCheckInterval time.Duration `koanf:"delayed_task_check_interval"`
	// Wake is how an idle worker learns of new tasks: WakePush (the
	// default) waits in Redis for a wake-up token that every enqueue of
	// tuskq pushes, WakePoll polls every TaskCheckInterval as asynq does.
	// See docs/operations.md.
	Wake string `koanf:"wake"`
	// WakeFallback is, with Wake push, how long an idle worker goes
	// without fetching when no token wakes it: the pickup latency of tasks
	// enqueued by producers that know nothing of tuskq (a plain asynq
	// client, asynqmon's "run now"). Defaults to 5s.
	WakeFallback time.Duration `koanf:"wake_fallback"`
	// Cancelled is what becomes of a running task cancelled on request
	// (the HTTP API's DELETE, enqueue cancel, asynqmon's cancel button,
	// asynq's Inspector.CancelProcessing): CancelledArchive (the default)
	// archives it with the error "cancelled", CancelledDelete deletes it.
	// Either way it is never retried. A worker shutting down still hands
	// its tasks back to be run again.
	Cancelled string `koanf:"cancelled"`
	// Listen is the address of /healthz, /readyz and /metrics. Empty turns
	// the endpoint off. Defaults to 127.0.0.1:9464. A non-loopback address
	// requires MetricsToken.
	Listen string `koanf:"listen"`
	// MetricsToken, when set, is the bearer token a scraper must send to
	// read /metrics ("Authorization: Bearer TOKEN"); /healthz and /readyz
	// stay open. At least 16 characters. Required when Listen is not a
	// loopback address. Secret: masked when printed.
	MetricsToken string `koanf:"metrics_token" secret:"true"`
	// HTTPAllowHosts lists the hosts ("api.example.com", "api.example.com:8443",
	// "127.0.0.1:9000") or IP ranges ("10.0.0.0/8") the built-in http:request
	// processor may call. A host without a port allows ports 80 and 443
	// only. Loopback, private, CGNAT, ULA, link-local and cloud metadata
	// addresses are refused after resolution unless listed literally
	// (address or range). Empty (the default) allows none, so anyone able
	// to enqueue cannot make workers reach internal addresses.
	HTTPAllowHosts []string `koanf:"http_allow_hosts"`
	// OrphanCheckInterval is how often the worker looks for active tasks
	// whose lease expired (their worker died or lost Redis) and hands them
	// back to their queue, without charging a retry or waiting for a retry
	// delay. asynq's own recovery takes 90 to 150 s more and charges a
	// retry. 0 leaves recovery to asynq alone. Defaults to 5s.
	OrphanCheckInterval time.Duration `koanf:"orphan_check_interval"`
	// OrphanGrace is how long after its lease expired a task is recovered:
	// a margin for clock skew between worker hosts. A worker that loses its
	// lease stops the task's handler at once, so the margin need not cover
	// the handler. Defaults to 5s.
	OrphanGrace time.Duration `koanf:"orphan_grace"`
	// CompletionRecord, when true, records in Redis each task a handler
	// completed, for CompletionRecordTTL, and skips a task that comes back
	// with such a record: a re-delivery after Redis was unreachable while
	// the task was being marked done does not run the handler twice. It
	// costs one Redis round trip before and one after each task.
	CompletionRecord bool `koanf:"completion_record"`
	// CompletionRecordTTL is how long a completion record is kept. It must
	// outlast a lease (30s) plus the orphan recovery. Defaults to 15m.
	CompletionRecordTTL time.Duration `koanf:"completion_record_ttl"`
	// Scheduler runs the periodic tasks (the schedules section and the
	// schedules added at run time) in this worker process. Every worker
	// may run it: each tick is enqueued once however many do. Defaults to
	// true.
	Scheduler bool `koanf:"scheduler"`
}

// RouteConfig holds the producer-side defaults of a task type or pattern.
// A zero field means "not set by this route".
type RouteConfig struct {
	// Queue the task goes to when the producer names none.
	Queue string `koanf:"queue"`
	// MaxRetry is the number of retries before the task is archived.
	// Unset keeps asynq's default (25).
	MaxRetry *int `koanf:"max_retry"`
	// Timeout bounds one attempt of the task.
	Timeout time.Duration `koanf:"timeout"`
	// UniqueTTL, when set, makes a task with the same type, queue and
	// payload a duplicate for this long.
	UniqueTTL time.Duration `koanf:"unique_ttl"`
	// UniqueUntilEnd, when true, makes a task with the same type, queue
	// and payload a duplicate while this one has not ended (pending,
	// scheduled, active or waiting for a retry). It excludes UniqueTTL. A
	// task that sets its own unique or unique_key ignores the route's.
	UniqueUntilEnd bool `koanf:"unique_until_end"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error. Defaults to info.
	Level string `koanf:"level"`
	// Format is json (the default, for log pipelines) or text (terminals).
	Format string `koanf:"format"`
	// Payloads logs task payloads on task log lines. Off by default because
	// payloads often carry personal data or secrets.
	Payloads bool `koanf:"payloads"`
}

// MonitorConfig configures cmd/monitor.
type MonitorConfig struct {
	// Listen is the address the monitor serves on. Defaults to
	// 127.0.0.1:8080. A non-loopback address requires authentication.
	Listen string `koanf:"listen"`
	// RootPath is the URL path the UI is served under. Defaults to "/".
	RootPath string `koanf:"root_path"`
	// ReadOnly refuses every mutating action in the UI.
	ReadOnly bool `koanf:"read_only"`
	// Auth configures who may use the monitor. With no user and no token,
	// the monitor serves loopback only.
	Auth MonitorAuthConfig `koanf:"auth"`
	// Insight configures the Insight page: anomaly detection, forecasts
	// and their webhook.
	Insight InsightConfig `koanf:"insight"`
}

// InsightConfig configures the monitor's anomaly detection and forecasts.
type InsightConfig struct {
	// Enabled runs the engine (default true). Workers publish their
	// aggregates whatever this says; they cost one write per 5 s.
	Enabled bool `koanf:"enabled"`
	// Targets are per-queue target latencies: a warning is raised when a
	// task enqueued now is forecast to start later than this.
	Targets []InsightTarget `koanf:"targets"`
	// Webhook, when set, receives a JSON POST per anomaly raised or
	// resolved, under the http:request processor's address rules.
	Webhook string `koanf:"webhook"`
	// WebhookCooldown is the least time between two posts about the same
	// anomaly (same kind, queue, type and subject). Defaults to 30m.
	WebhookCooldown time.Duration `koanf:"webhook_cooldown"`
	// WebhookAllowPrivate lets the webhook reach loopback and private
	// addresses (a webhook receiver on the same network).
	WebhookAllowPrivate bool `koanf:"webhook_allow_private"`
}

// InsightTarget is one queue's target latency.
type InsightTarget struct {
	// Queue is the queue's name.
	Queue string `koanf:"queue"`
	// Latency is a duration such as 30s or 5m.
	Latency string `koanf:"latency"`
}

// Roles of monitor users and tokens.
const (
	// RoleViewer may read everything; every request that would change
	// tasks or queues (any method but GET, HEAD and OPTIONS) is refused.
	RoleViewer = "viewer"
	// RoleAdmin may do everything the UI offers.
	RoleAdmin = "admin"
)

// MonitorAuthConfig configures the monitor's authentication: HTTP Basic
// for people (users) and bearer tokens for scripts and Prometheus
// (tokens), each with a role.
type MonitorAuthConfig struct {
	// Users log in to the UI with HTTP Basic authentication.
	Users []MonitorUser `koanf:"users"`
	// Tokens are sent as "Authorization: Bearer TOKEN" by scripts and
	// Prometheus.
	Tokens []MonitorToken `koanf:"tokens"`
	// FailedLoginBurst is how many failed logins a client address may make
	// in a row before it is refused with 429 Too Many Requests. Defaults
	// to 10.
	FailedLoginBurst int `koanf:"failed_login_burst"`
	// FailedLoginRefill is how often a client address regains one failed
	// login after the burst is spent. Defaults to 10s (6 a minute).
	FailedLoginRefill time.Duration `koanf:"failed_login_refill"`
}

// MonitorUser is a person who logs in to the monitor.
type MonitorUser struct {
	// Name is the login name. Required and unique.
	Name string `koanf:"name"`
	// Role is viewer or admin.
	Role string `koanf:"role"`
	// PasswordHash is the bcrypt hash of the password, as printed by
	// "monitor hash-password". Secret: masked when printed.
	PasswordHash string `koanf:"password_hash" secret:"true"`
}

// MonitorToken is a bearer token for scripts and Prometheus.
type MonitorToken struct {
	// Name identifies the token in logs; the token itself is never logged.
	// Required and unique.
	Name string `koanf:"name"`
	// Role is viewer or admin.
	Role string `koanf:"role"`
	// Token is the secret, at least 16 characters (openssl rand -hex 24
	// makes a good one). Secret: masked when printed.
	Token string `koanf:"token" secret:"true"`
}

// APIConfig configures the HTTP enqueue API ("enqueue serve").
type APIConfig struct {
	// Listen is the address the API serves on. Defaults to 127.0.0.1:8090.
	// A non-loopback address requires at least one token.
	Listen string `koanf:"listen"`
	// Tokens are the bearer tokens accepted by the API. With none, the API
	// accepts every request and listens only on loopback.
	Tokens []APIToken `koanf:"tokens"`
	// MaxBodyBytes bounds the size of a request body; a larger body is
	// answered 413. Defaults to 4 MiB.
	MaxBodyBytes int `koanf:"max_body_bytes"`
	// MaxBatch is the largest number of tasks in one batch request.
	// Defaults to 1000.
	MaxBatch int `koanf:"max_batch"`
	// IdempotencyTTL is how long an Idempotency-Key is remembered: a
	// request repeating a key within it gets the original answer and
	// creates nothing. Defaults to 24h.
	IdempotencyTTL time.Duration `koanf:"idempotency_ttl"`
}

// APIToken is one bearer token of the HTTP API and what it may do.
type APIToken struct {
	// Name identifies the token in access logs and error messages; the
	// token itself is never logged. Required and unique.
	Name string `koanf:"name"`
	// Token is the secret a client sends as "Authorization: Bearer TOKEN".
	// Secret: masked when printed. The API requires at least 16
	// characters.
	Token string `koanf:"token" secret:"true"`
	// Queues limits the token to these queues. Empty allows every queue.
	Queues []string `koanf:"queues"`
	// TaskTypes limits the token to these task types or prefix patterns
	// ("email:*"). Empty allows every type.
	TaskTypes []string `koanf:"task_types"`
	// Scopes grants the token more than enqueueing and reading tasks:
	// ScopeAdmin allows the administrative endpoints (such as /v1/limits).
	// Empty grants none.
	Scopes []string `koanf:"scopes"`
}

// ScopeAdmin is the api.tokens scope of the administrative endpoints of
// the HTTP API: changing fleet-wide settings such as limits.
const ScopeAdmin = "admin"

// PluginsConfig configures plugins: task handlers loaded by the worker at
// run time from a directory, hot-reloaded, enabled and configured
// fleet-wide.
type PluginsConfig struct {
	// Dir is the plugin directory, one subdirectory per plugin. Empty (the
	// default) turns plugins off.
	Dir string `koanf:"dir"`
	// ReloadDebounce is how long the plugin directory must be quiet after
	// a change before the worker reloads what changed. Defaults to 250ms.
	ReloadDebounce time.Duration `koanf:"reload_debounce"`
	// DisabledRetryDelay is how often a task of a disabled plugin comes
	// back to check whether the plugin was enabled again (without using up
	// a retry). Defaults to 5s.
	DisabledRetryDelay time.Duration `koanf:"disabled_retry_delay"`
	// AllowEnv lists the worker's own TUSKQ_* variables that a plugin
	// manifest may pass to its plugin through env. They hold the worker's
	// configuration, secrets included (TUSKQ_REDIS_PASSWORD), so a manifest
	// naming one that is not listed here fails to load. Empty (the default)
	// allows none.
	AllowEnv []string `koanf:"allow_env"`
	// CacheDir holds what the worker derives from its plugins: the
	// compiled code of wasm plugins (CacheDir/wasm), so that a restart
	// does not compile them again. It is created with mode 0700. Empty
	// (the default) is tuskq under the user's cache directory
	// ($XDG_CACHE_HOME or ~/.cache).
	CacheDir string `koanf:"cache_dir"`
	// TrustedKeys are the Ed25519 public keys (base64, 32 bytes) whose
	// signatures a worker accepts on published wasm bundles ("worker
	// plugins publish --sign-key"). When it is not empty, unsigned bundles
	// and bundles signed by other keys are refused. Empty (the default)
	// accepts any bundle whose digest matches.
	TrustedKeys []string `koanf:"trusted_keys"`
}

// Default returns the configuration used when nothing overrides it.
func Default() Config {
	return Config{
		Redis: RedisConfig{
			Mode:         ModeStandalone,
			Addr:         "127.0.0.1:6379",
			DialTimeout:  5 * time.Second,
			ReadTimeout:  3 * time.Second,
			WriteTimeout: 3 * time.Second,
		},
		Worker: WorkerConfig{
			Concurrency:              20,
			Queues:                   map[string]int{"critical": 6, "default": 3, "low": 1},
			ShutdownTimeout:          8 * time.Second,
			TaskCheckInterval:        10 * time.Millisecond,
			DelayedTaskCheckInterval: 5 * time.Second,
			Wake:                     WakePush,
			WakeFallback:             5 * time.Second,
			Cancelled:                CancelledArchive,
			Listen:                   "127.0.0.1:9464",
			OrphanCheckInterval:      5 * time.Second,
			OrphanGrace:              5 * time.Second,
			CompletionRecordTTL:      15 * time.Minute,
			Scheduler:                true,
		},
		Log: LogConfig{Level: "info", Format: FormatJSON},
		Monitor: MonitorConfig{
			Listen:   "127.0.0.1:8080",
			RootPath: "/",
			Auth: MonitorAuthConfig{
				FailedLoginBurst:  10,
				FailedLoginRefill: 10 * time.Second,
			},
			Insight: InsightConfig{Enabled: true, Targets: []InsightTarget{}, WebhookCooldown: 30 * time.Minute},
		},
		API: APIConfig{
			Listen:         "127.0.0.1:8090",
			MaxBodyBytes:   4 << 20,
			MaxBatch:       1000,
			IdempotencyTTL: 24 * time.Hour,
		},
		Plugins: PluginsConfig{
			ReloadDebounce:     250 * time.Millisecond,
			DisabledRetryDelay: 5 * time.Second,
		},
		Enqueue: EnqueueConfig{Timeout: 2 * time.Second, WorkflowTTL: 24 * time.Hour},
		OTel:    OTelConfig{Exporter: ExporterOTLP, SamplerRatio: 1},
		Events:  EventsConfig{Publish: "auto", MaxLen: 100000},
	}
}
