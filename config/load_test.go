package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// writeConfig writes a config file into a fresh temporary directory.
func writeConfig(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tuskq.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testFlags is a flag set like a binary's: the common flags plus three
// bound ones, parsed from args.
func testFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	fs.Int("concurrency", 99, "")
	fs.StringSlice("allow-host", nil, "")
	fs.Duration("shutdown-timeout", 0, "")
	for name, key := range map[string]string{
		"concurrency":      "worker.concurrency",
		"allow-host":       "worker.http_allow_hosts",
		"shutdown-timeout": "worker.shutdown_timeout",
	} {
		if err := BindFlag(fs, name, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load() = %+v, want Default() %+v", c, Default())
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, `
redis:
  addr: file.example:6379
worker:
  concurrency: 5
  shutdown_timeout: 10s
  queues: {fileq: 2}
  http_allow_hosts: [file.example]
`)
	env := []string{
		"HOME=/root",
		"TUSKQ_REDIS_ADDR=env.example:6379",
		"TUSKQ_WORKER_SHUTDOWN_TIMEOUT=20s",
		"TUSKQ_WORKER_QUEUES=envq=3, other=1",
		"TUSKQ_WORKER_HTTP_ALLOW_HOSTS=env1.example, env2.example:8443",
	}
	args := []string{
		"--redis-addr", "flag.example:6379",
		"--shutdown-timeout", "30s",
		"--set", "worker.queues=flagq=4",
		"--allow-host", "a.example", "--allow-host", "b.example:80",
	}
	type want struct {
		addr     string
		shutdown time.Duration
		queues   map[string]int
		hosts    []string
		conc     int
	}
	def := Default()
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want want
	}{
		{"defaults", "", nil, nil, want{def.Redis.Addr, def.Worker.ShutdownTimeout, def.Worker.Queues, nil, 20}},
		{"file", file, nil, nil, want{"file.example:6379", 10 * time.Second, map[string]int{"fileq": 2}, []string{"file.example"}, 5}},
		{"env over file", file, env, nil, want{"env.example:6379", 20 * time.Second, map[string]int{"envq": 3, "other": 1}, []string{"env1.example", "env2.example:8443"}, 5}},
		{"env over defaults", "", env, nil, want{"env.example:6379", 20 * time.Second, map[string]int{"envq": 3, "other": 1}, []string{"env1.example", "env2.example:8443"}, 20}},
		{"flags over env", file, env, args, want{"flag.example:6379", 30 * time.Second, map[string]int{"flagq": 4}, []string{"a.example", "b.example:80"}, 5}},
		{"flags over file", file, nil, args, want{"flag.example:6379", 30 * time.Second, map[string]int{"flagq": 4}, []string{"a.example", "b.example:80"}, 5}},
		{"--set after dedicated flag", "", nil, []string{"--redis-addr", "a:1", "--set", "redis.addr=b:2", "--concurrency", "7"}, want{"b:2", def.Worker.ShutdownTimeout, def.Worker.Queues, nil, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(LoadOptions{File: tt.file, Environ: tt.env, Flags: testFlags(t, tt.args...)})
			if err != nil {
				t.Fatal(err)
			}
			got := want{c.Redis.Addr, c.Worker.ShutdownTimeout, c.Worker.Queues, c.Worker.HTTPAllowHosts, c.Worker.Concurrency}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadRoutesFromFileAndSet(t *testing.T) {
	t.Parallel()
	file := writeConfig(t, `
routes:
  email:send: {queue: critical, max_retry: 3}
  "email:*": {queue: low, timeout: 1m}
  "image.resize": {unique_ttl: 1h}
`)
	fs := testFlags(t, "--set", "routes.email:send.timeout=5s", "--set", "routes.report:*.queue=low", "--set", "routes.image.resize.max_retry=0")
	c, err := Load(LoadOptions{File: file, Flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	three, zero := 3, 0
	want := map[string]RouteConfig{
		"email:send":   {Queue: "critical", MaxRetry: &three, Timeout: 5 * time.Second},
		"email:*":      {Queue: "low", Timeout: time.Minute},
		"image.resize": {UniqueTTL: time.Hour, MaxRetry: &zero},
		"report:*":     {Queue: "low"},
	}
	if !reflect.DeepEqual(c.Routes, want) {
		t.Errorf("Routes = %+v\nwant %+v", c.Routes, want)
	}
}

func TestLoadConfigFileChoice(t *testing.T) {
	t.Parallel()
	envFile := writeConfig(t, "redis: {addr: env-file:1}\n")
	flagFile := writeConfig(t, "redis: {addr: flag-file:1}\n")
	optFile := writeConfig(t, "redis: {addr: opt-file:1}\n")
	environ := []string{"TUSKQ_CONFIG=" + envFile}
	tests := []struct {
		name string
		opts LoadOptions
		want string
	}{
		{"TUSKQ_CONFIG", LoadOptions{Environ: environ, Flags: testFlags(t)}, "env-file:1"},
		{"--config over TUSKQ_CONFIG", LoadOptions{Environ: environ, Flags: testFlags(t, "--config", flagFile)}, "flag-file:1"},
		{"File over all", LoadOptions{File: optFile, Environ: environ, Flags: testFlags(t, "--config", flagFile)}, "opt-file:1"},
	}
	for _, tt := range tests {
		c, err := Load(tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if c.Redis.Addr != tt.want {
			t.Errorf("%s: redis.addr = %q, want %q", tt.name, c.Redis.Addr, tt.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string // FILE in want is replaced by its path
		env  []string
		args []string
		want string
	}{
		{
			name: "unknown file key",
			file: "redis:\n  adr: 127.0.0.1:6379\n",
			want: `config: FILE: unknown key "redis.adr" (did you mean "redis.addr"?)`,
		},
		{
			name: "unknown top-level key",
			file: "wroker: {concurrency: 3}\n",
			want: `config: FILE: unknown key "wroker" (did you mean "worker"?)`,
		},
		{
			name: "flat key",
			file: "redis.addr: 127.0.0.1:6379\n",
			want: `config: FILE: unknown key "redis.addr" (nest it: write "addr" under "redis")`,
		},
		{
			name: "unknown route field",
			file: "routes:\n  email:send: {queu: critical}\n",
			want: `config: FILE: unknown key "routes.email:send.queu" (did you mean "routes.email:send.queue"?)`,
		},
		{
			name: "bad duration",
			file: "worker:\n  shutdown_timeout: 5 minutes\n",
			want: `config: FILE: worker.shutdown_timeout: "5 minutes" is not valid; expected a duration such as 30s or 1m`,
		},
		{
			name: "bare number duration",
			file: "redis: {dial_timeout: 5}\n",
			want: `config: FILE: redis.dial_timeout: 5 is not valid; expected a duration such as 30s or 1m`,
		},
		{
			name: "bad int",
			file: "worker: {concurrency: lots}\n",
			want: `config: FILE: worker.concurrency: "lots" is not valid; expected an integer`,
		},
		{
			name: "bad weight",
			file: "worker: {queues: {critical: high}}\n",
			want: `config: FILE: worker.queues.critical: "high" is not valid; expected an integer weight`,
		},
		{
			name: "section is not a mapping",
			file: "log: debug\n",
			want: `config: FILE: log: "debug" is not valid; expected a mapping of log keys`,
		},
		{
			name: "secret is masked",
			file: "redis: {password: [hunter2]}\n",
			want: `config: FILE: redis.password: "****" is not valid; expected a string`,
		},
		{
			name: "unknown env var",
			env:  []string{"TUSKQ_REDIS_ADR=127.0.0.1:6379"},
			want: `config: unknown environment variable TUSKQ_REDIS_ADR (did you mean TUSKQ_REDIS_ADDR?)`,
		},
		{
			name: "env var with underscore key",
			env:  []string{"TUSKQ_WORKER_SHUTDOWN_TIMEOUTS=1s"},
			want: `config: unknown environment variable TUSKQ_WORKER_SHUTDOWN_TIMEOUTS (did you mean TUSKQ_WORKER_SHUTDOWN_TIMEOUT?)`,
		},
		{
			name: "routes from env",
			env:  []string{"TUSKQ_ROUTES_EMAIL_SEND_QUEUE=low"},
			want: `config: TUSKQ_ROUTES_EMAIL_SEND_QUEUE: routes cannot be set from the environment; set them in the config file or with --set routes.<pattern>.<field>=value`,
		},
		{
			name: "bad env int",
			env:  []string{"TUSKQ_WORKER_CONCURRENCY=ten"},
			want: `config: TUSKQ_WORKER_CONCURRENCY: worker.concurrency: "ten" is not valid; expected an integer`,
		},
		{
			name: "bad env map",
			env:  []string{"TUSKQ_WORKER_QUEUES=critical:6"},
			want: `config: TUSKQ_WORKER_QUEUES: worker.queues: "critical:6" is not valid; expected comma-separated name=weight pairs such as critical=6,default=3,low=1`,
		},
		{
			name: "unknown --set key",
			args: []string{"--set", "worker.concurency=3"},
			want: `config: --set: unknown key "worker.concurency" (did you mean "worker.concurrency"?)`,
		},
		{
			name: "--set without =",
			args: []string{"--set", "worker.concurrency"},
			want: `config: --set "worker.concurrency" is not valid; expected key=value`,
		},
		{
			name: "bad --set duration",
			args: []string{"--set", "routes.email:*.timeout=soon"},
			want: `config: --set: routes.email:*.timeout: "soon" is not valid; expected a duration such as 30s or 1m`,
		},
		{
			name: "every problem at once",
			file: "redis: {adr: x, db: one}\nworker: {shutdown_timeout: 5 minutes}\n",
			env:  []string{"TUSKQ_LOG_LEVL=debug", "TUSKQ_LOG_PAYLOADS=maybe"},
			args: []string{"--set", "monitor.read_only=sure"},
			want: `config: FILE: unknown key "redis.adr" (did you mean "redis.addr"?)
config: FILE: redis.db: "one" is not valid; expected an integer
config: FILE: worker.shutdown_timeout: "5 minutes" is not valid; expected a duration such as 30s or 1m
config: unknown environment variable TUSKQ_LOG_LEVL (did you mean TUSKQ_LOG_LEVEL?)
config: TUSKQ_LOG_PAYLOADS: log.payloads: "maybe" is not valid; expected true or false
config: --set: monitor.read_only: "sure" is not valid; expected true or false`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var path string
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			_, err := Load(LoadOptions{File: path, Environ: tt.env, Flags: testFlags(t, tt.args...)})
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("Load() error:\n%v\nwant:\n%s", err, want)
			}
		})
	}
}

func TestLoadErrorKinds(t *testing.T) {
	t.Parallel()
	_, err := Load(LoadOptions{Environ: []string{"TUSKQ_NOPE=1"}})
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown env var: errors.Is(%v, ErrUnknownKey) = false", err)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	_, err = Load(LoadOptions{File: missing})
	if want := "config: open " + missing + ": no such file or directory"; err == nil || err.Error() != want || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want %s matching fs.ErrNotExist", err, want)
	}
	path := writeConfig(t, "redis: [a\n")
	_, err = Load(LoadOptions{File: path})
	if want := "config: " + path + ": yaml: line 1: did not find expected ',' or ']'"; err == nil || err.Error() != want {
		t.Errorf("bad YAML: %v, want %s", err, want)
	}
}

func TestLoadValidationSources(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
redis: {mode: sentinel, db: -1, dial_timeout: 0s}
worker:
  queues: {"a b": 1, low: 0}
log: {level: verbose}
routes:
  "a*b": {max_retry: -1, unique_ttl: 10ms}
`)
	fs := testFlags(t, "--concurrency", "0", "--set", "monitor.root_path=ui")
	_, err := Load(LoadOptions{File: path, Environ: []string{"TUSKQ_WORKER_SHUTDOWN_TIMEOUT=-1s"}, Flags: fs})
	want := strings.ReplaceAll(`config: redis.addrs: [] is not valid; expected at least one host:port in sentinel mode
config: redis.master_name: "" is not valid; expected the name of the master set (required in sentinel mode)
config: FILE: redis.db: -1 is not valid; expected 0 or more
config: FILE: redis.dial_timeout: 0s is not valid; expected a duration greater than 0
config: --concurrency: worker.concurrency: 0 is not valid; expected at least 1
config: FILE: worker.queues: "a b" is not valid; expected a queue name that is not empty and has no spaces, control characters or braces
config: FILE: worker.queues.low: 0 is not valid; expected a weight of at least 1
config: TUSKQ_WORKER_SHUTDOWN_TIMEOUT: worker.shutdown_timeout: -1s is not valid; expected 0 or more
config: FILE: routes.a*b: "a*b" is not valid; expected a task type such as email:send or a prefix pattern such as email:* (only a trailing *)
config: FILE: routes.a*b.max_retry: -1 is not valid; expected a whole number from 0 to 2147483647
config: FILE: routes.a*b.unique_ttl: 10ms is not valid; expected a whole number of seconds from 1s to 720h0m0s (30 days)
config: FILE: log.level: "verbose" is not valid; expected debug, info, warn or error
config: --set: monitor.root_path: "ui" is not valid; expected a URL path starting with /`, "FILE", path)
	if err == nil || err.Error() != want {
		t.Fatalf("Load() error:\n%v\nwant:\n%s", err, want)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 13 {
		t.Fatalf("errors.As(*ValidationError) = %v with %d problems, want 13", ve != nil, len(ve.Problems))
	}
	if p := ve.Problems[4]; p.Key != "worker.concurrency" || p.Value != 0 || p.Source != "--concurrency" {
		t.Errorf("Problems[4] = %+v", *p)
	}
	// errors.As reaches a single problem through the ValidationError.
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "redis.addrs" {
		t.Errorf("errors.As(*FieldError) = %v, want the first problem (redis.addrs)", fe)
	}
}

func TestBindFlagErrors(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Int("concurrency", 0, "")
	err := BindFlag(fs, "concurrency", "worker.concurency")
	want := `config: bind --concurrency: unknown key "worker.concurency" (did you mean "worker.concurrency"?)`
	if err == nil || err.Error() != want || !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v, want %s", err, want)
	}
	err = BindFlag(fs, "listen", "monitor.listen")
	want = `config: bind --listen to monitor.listen: no such flag -listen`
	if err == nil || err.Error() != want {
		t.Errorf("unknown flag: %v, want %s", err, want)
	}
	if err := BindFlag(fs, "concurrency", "routes.email:*.max_retry"); err != nil {
		t.Errorf("route key: %v", err)
	}
}

func TestSchema(t *testing.T) {
	t.Parallel()
	s := newSchema()
	// Every key has its own environment variable.
	if got, want := len(s.env), len(s.leaves)-1; got != want {
		t.Errorf("%d environment variables for %d keys (routes excluded)", got, want)
	}
	// Every leaf appears in the defaults tree, except unset routes.
	flat := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(joinKey(prefix, k), sub)
				continue
			}
			flat[joinKey(prefix, k)] = true
		}
	}
	walk("", defaultsLayer(s).tree)
	for _, f := range s.leaves {
		if !flat[f.path] && f.kind != kindRoutes && f.kind != kindSchedules {
			t.Errorf("key %s missing from the defaults tree", f.path)
		}
	}
}
