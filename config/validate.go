package config

import (
	"encoding/base64"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tuskq/tuskq/internal/taskspec"
)

// Validate checks every value and reports all problems at once as a
// *ValidationError, or returns nil. Load calls it; call it again after
// changing a loaded Config.
func (c Config) Validate() error {
	v := &validator{}
	c.Redis.validate(v)
	c.Worker.validate(v)
	c.validateRoutes(v)
	c.decodeSchedules(v)
	c.Log.validate(v)
	c.Monitor.validate(v)
	c.API.validate(v)
	c.Plugins.validate(v)
	c.OTel.validate(v)
	c.validateLimits(v)
	if c.Enqueue.WaitReplicas < 0 {
		v.add("enqueue.wait_replicas", c.Enqueue.WaitReplicas, "0 (do not wait) or the number of replicas that must confirm each enqueue, such as 1")
	}
	if c.Enqueue.WorkflowTTL < 0 || c.Enqueue.WorkflowTTL > 90*24*time.Hour {
		v.add("enqueue.workflow_ttl", c.Enqueue.WorkflowTTL, "0 (the default, 24h) or up to 2160h (90 days), such as 24h")
	}
	if c.Enqueue.Timeout < 0 {
		v.add("enqueue.timeout", c.Enqueue.Timeout, "0 (no deadline of tuskq's own) or more, such as 2s")
	}
	switch c.Events.Publish {
	case "", "auto", "always", "off": // "" (a Config built in code) is auto
	default:
		v.add("events.publish", c.Events.Publish, "auto (only while a listener is registered), always or off")
	}
	if c.Events.MaxLen < 0 {
		v.add("events.max_len", c.Events.MaxLen, "the number of events each queue's stream keeps, such as 100000 (0: the default, 100000)")
	}
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

// validator collects problems.
type validator struct {
	problems []*FieldError
}

func (v *validator) add(key string, value any, exp string) {
	v.problems = append(v.problems, &FieldError{Key: key, Value: value, Expected: exp})
}

func (r RedisConfig) validate(v *validator) {
	switch r.Mode {
	case ModeStandalone:
		if !validHostPort(r.Addr, 1) {
			v.add("redis.addr", r.Addr, "host:port such as 127.0.0.1:6379")
		}
	case ModeSentinel, ModeCluster:
		if len(r.Addrs) == 0 {
			v.add("redis.addrs", r.Addrs, "at least one host:port in "+r.Mode+" mode")
		}
		for _, a := range r.Addrs {
			if !validHostPort(a, 1) {
				v.add("redis.addrs", a, "host:port such as 10.0.0.1:26379")
			}
		}
	default:
		v.add("redis.mode", r.Mode, "standalone, sentinel or cluster")
	}
	if r.Mode == ModeSentinel && r.MasterName == "" {
		v.add("redis.master_name", r.MasterName, "the name of the master set (required in sentinel mode)")
	}
	switch {
	case r.DB < 0:
		v.add("redis.db", r.DB, "0 or more")
	case r.Mode == ModeCluster && r.DB != 0:
		v.add("redis.db", r.DB, "0 in cluster mode (Redis Cluster has only database 0)")
	}
	if r.PoolSize < 0 {
		v.add("redis.pool_size", r.PoolSize, "0 (the go-redis default) or more")
	}
	positive(v, "redis.dial_timeout", r.DialTimeout)
	positive(v, "redis.read_timeout", r.ReadTimeout)
	positive(v, "redis.write_timeout", r.WriteTimeout)
	if r.TLS.CertFile != "" && r.TLS.KeyFile == "" {
		v.add("redis.tls.key_file", r.TLS.KeyFile, "a key file because redis.tls.cert_file is set")
	}
	if r.TLS.KeyFile != "" && r.TLS.CertFile == "" {
		v.add("redis.tls.cert_file", r.TLS.CertFile, "a certificate file because redis.tls.key_file is set")
	}
}

func (w WorkerConfig) validate(v *validator) {
	if w.Concurrency < 1 {
		v.add("worker.concurrency", w.Concurrency, "at least 1")
	}
	if len(w.Queues) == 0 {
		v.add("worker.queues", w.Queues, "at least one queue such as default=1")
	}
	for _, name := range slices.Sorted(maps.Keys(w.Queues)) {
		if !validName(name) {
			v.add("worker.queues", name, "a queue name that is not empty and has no spaces, control characters or braces")
			continue
		}
		if w.Queues[name] < 1 {
			v.add("worker.queues."+name, w.Queues[name], "a weight of at least 1")
		}
	}
	if w.ShutdownTimeout < 0 {
		v.add("worker.shutdown_timeout", w.ShutdownTimeout, "0 or more")
	}
	positive(v, "worker.task_check_interval", w.TaskCheckInterval)
	positive(v, "worker.delayed_task_check_interval", w.DelayedTaskCheckInterval)
	if w.Wake != WakePush && w.Wake != WakePoll {
		v.add("worker.wake", w.Wake, `"push" (wait for wake-up tokens) or "poll" (poll every task_check_interval)`)
	}
	if w.Cancelled != CancelledArchive && w.Cancelled != CancelledDelete {
		v.add("worker.cancelled", w.Cancelled, `"archive" (archive a cancelled task with the error "cancelled") or "delete" (delete it)`)
	}
	if w.WakeFallback < 10*time.Millisecond {
		v.add("worker.wake_fallback", w.WakeFallback, "a duration of at least 10ms, such as 1s")
	}
	if w.Listen != "" && !validHostPort(w.Listen, 0) {
		v.add("worker.listen", w.Listen, "host:port such as 127.0.0.1:9464, or empty to turn the endpoint off")
	}
	if w.MetricsToken != "" && (len(w.MetricsToken) < MinTokenLength || strings.ContainsFunc(w.MetricsToken, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })) {
		v.add("worker.metrics_token", masked(w.MetricsToken), "empty, or at least "+strconv.Itoa(MinTokenLength)+" characters without spaces (openssl rand -hex 24 makes a good one)")
	}
	for _, h := range w.HTTPAllowHosts {
		if !validAllowHost(h) {
			v.add("worker.http_allow_hosts", h, "a host or host:port such as api.example.com or 10.0.0.5:8443, or an IP range such as 10.0.0.0/8")
		}
	}
	if w.OrphanCheckInterval < 0 {
		v.add("worker.orphan_check_interval", w.OrphanCheckInterval, "0 (leave recovery to asynq) or more, such as 5s")
	}
	if w.OrphanGrace < 0 {
		v.add("worker.orphan_grace", w.OrphanGrace, "0 or more, such as 5s")
	}
	if w.CompletionRecord && w.CompletionRecordTTL < time.Minute {
		v.add("worker.completion_record_ttl", w.CompletionRecordTTL, "at least 1m: a record must outlast a lease (30s) and the orphan recovery")
	}
}

func (c Config) validateRoutes(v *validator) {
	for _, pattern := range slices.Sorted(maps.Keys(c.Routes)) {
		r := c.Routes[pattern]
		key := routesKey + "." + pattern
		if !validPattern(pattern) {
			v.add(key, pattern, "a task type such as email:send or a prefix pattern such as email:* (only a trailing *)")
		}
		// The same checks as a task's own options at every door.
		values := map[string]any{taskspec.FieldQueue: r.Queue, taskspec.FieldTimeout: r.Timeout, taskspec.FieldUnique: r.UniqueTTL}
		if r.MaxRetry != nil {
			values[taskspec.FieldMaxRetry] = *r.MaxRetry
		}
		if r.UniqueUntilEnd && r.UniqueTTL != 0 {
			v.add(key+".unique_until_end", r.UniqueUntilEnd, "false when unique_ttl is set: a route's uniqueness lasts either for unique_ttl or until the task ends, not both")
		}
		for _, p := range taskspec.CheckRoute(r.Queue, r.MaxRetry, r.Timeout, r.UniqueTTL) {
			exp := p.Expected
			if exp == "" {
				exp = p.Detail
			}
			v.add(key+"."+taskspec.RouteKeys[p.Field], values[p.Field], exp)
		}
	}
}

func (l LogConfig) validate(v *validator) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", l.Level, "debug, info, warn or error")
	}
	if l.Format != FormatJSON && l.Format != FormatText {
		v.add("log.format", l.Format, "json or text")
	}
}

func (m MonitorConfig) validate(v *validator) {
	if m.Listen != "" && !validHostPort(m.Listen, 0) {
		v.add("monitor.listen", m.Listen, "host:port such as 127.0.0.1:8080, or empty")
	}
	if !strings.HasPrefix(m.RootPath, "/") {
		v.add("monitor.root_path", m.RootPath, "a URL path starting with /")
	}
	m.Auth.validate(v)
	m.Insight.validate(v)
}

// Lower bounds of the api section.
const (
	minAPIBodyBytes      = 1024
	minAPIIdempotencyTTL = time.Second
)

func (a APIConfig) validate(v *validator) {
	if !validHostPort(a.Listen, 0) {
		v.add("api.listen", a.Listen, "host:port such as 127.0.0.1:8090")
	}
	names := map[string]bool{}
	for i, t := range a.Tokens {
		key := "api.tokens[" + strconv.Itoa(i) + "]"
		switch {
		case !validName(t.Name):
			v.add(key+".name", t.Name, "a name that is not empty and has no spaces, control characters or braces")
		case names[t.Name]:
			v.add(key+".name", t.Name, "a name no other token has")
		}
		names[t.Name] = true
		if t.Token == "" || strings.ContainsFunc(t.Token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			shown := any(t.Token)
			if t.Token != "" {
				shown = maskValue
			}
			v.add(key+".token", shown, "a secret without spaces or control characters, such as the output of openssl rand -hex 24")
		}
		for _, q := range t.Queues {
			if !validName(q) {
				v.add(key+".queues", q, "a queue name that has no spaces, control characters or braces")
			}
		}
		for _, p := range t.TaskTypes {
			if !validPattern(p) {
				v.add(key+".task_types", p, "a task type such as email:send or a prefix pattern such as email:* (only a trailing *)")
			}
		}
		for _, sc := range t.Scopes {
			if sc != ScopeAdmin {
				v.add(key+".scopes", sc, `a known scope: "`+ScopeAdmin+`" (the administrative endpoints)`)
			}
		}
	}
	if a.MaxBodyBytes < minAPIBodyBytes {
		v.add("api.max_body_bytes", a.MaxBodyBytes, "at least "+strconv.Itoa(minAPIBodyBytes))
	}
	if a.MaxBatch < 1 {
		v.add("api.max_batch", a.MaxBatch, "at least 1")
	}
	if a.IdempotencyTTL < minAPIIdempotencyTTL {
		v.add("api.idempotency_ttl", a.IdempotencyTTL, "a duration of at least 1s")
	}
}

// positive reports a duration that is not greater than 0.
func positive(v *validator, key string, d time.Duration) {
	if d <= 0 {
		v.add(key, d, "a duration greater than 0")
	}
}

// validHostPort accepts host:port with a numeric port of at least
// minPort. The host may be empty (all interfaces, or localhost).
func validHostPort(s string, minPort int) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || strings.ContainsFunc(host, badHostRune) {
		return false
	}
	return validPort(port, minPort)
}

func validPort(port string, minPort int) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= minPort && n <= 65535 && port == strconv.Itoa(n)
}

// validAllowHost accepts host, host:port, an IPv6 address, [v6]:port, or
// an IP range in CIDR notation.
func validAllowHost(s string) bool {
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	if s == "" || strings.ContainsFunc(s, badHostRune) {
		return false
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		return host != "" && validPort(port, 1)
	}
	return !strings.Contains(s, ":") || net.ParseIP(s) != nil
}

func badHostRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("/@?#\\", r)
}

// validName accepts a queue name: not empty, no white space, control
// characters or braces (braces would change Redis Cluster hash slots).
func validName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '{' || r == '}' || r == unicode.ReplacementChar
	})
}

// validPattern accepts a task type, or a prefix followed by one trailing *.
func validPattern(p string) bool {
	prefix, wildcard := strings.CutSuffix(p, "*")
	if !wildcard && p == "" {
		return false
	}
	return !strings.ContainsFunc(prefix, func(r rune) bool {
		return r == '*' || unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	})
}

// validate checks the plugin settings; they matter only when plugins are on.
func (p PluginsConfig) validate(v *validator) {
	if p.Dir == "" {
		return
	}
	positive(v, "plugins.reload_debounce", p.ReloadDebounce)
	positive(v, "plugins.disabled_retry_delay", p.DisabledRetryDelay)
	for _, k := range p.TrustedKeys {
		if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != 32 {
			v.add("plugins.trusted_keys", k, "an Ed25519 public key in base64 (32 bytes), as printed by worker plugins keygen")
		}
	}
	if p.CacheDir != "" && !filepath.IsAbs(p.CacheDir) {
		v.add("plugins.cache_dir", p.CacheDir, "an absolute directory path such as /var/cache/tuskq")
	}
	for _, name := range p.AllowEnv {
		if !validEnvName(name) {
			v.add("plugins.allow_env", name, "an environment variable name (letters, digits and '_', not starting with a digit) such as TUSKQ_REDIS_ADDR")
		}
	}
}

// validEnvName reports whether name is a portable environment variable
// name.
func validEnvName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9')
	})
}
