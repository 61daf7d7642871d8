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
	// Log configures the JSON or text logs every binary writes to stderr.
	Log LogConfig `koanf:"log"`
	// Monitor configures cmd/monitor.
	Monitor MonitorConfig `koanf:"monitor"`
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
	// idle worker (see docs/benchmarks.md). Defaults to 100ms.
	TaskCheckInterval time.Duration `koanf:"task_check_interval"`
	// DelayedTaskCheckInterval is how often scheduled and retry tasks that
	// came due are moved to their queue. Defaults to 1s.
	DelayedTaskCheckInterval time.Duration `koanf:"delayed_task_check_interval"`
	// Listen is the address of /healthz, /readyz and /metrics. Empty turns
	// the endpoint off. Defaults to 127.0.0.1:9464.
	Listen string `koanf:"listen"`
	// HTTPAllowHosts lists the hosts ("api.example.com", "api.example.com:8443",
	// "127.0.0.1:9000") the built-in http:request processor may call. A host
	// without a port allows any port. Empty (the default) allows none, so
	// anyone able to enqueue cannot make workers reach internal addresses.
	HTTPAllowHosts []string `koanf:"http_allow_hosts"`
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
			TaskCheckInterval:        100 * time.Millisecond,
			DelayedTaskCheckInterval: time.Second,
			Listen:                   "127.0.0.1:9464",
		},
		Log: LogConfig{Level: "info", Format: FormatJSON},
		Monitor: MonitorConfig{
			Listen:   "127.0.0.1:8080",
			RootPath: "/",
		},
	}
}
