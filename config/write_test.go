package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// richConfig sets every key to a value other than its default.
func richConfig() Config {
	three, zero := 3, 0
	return Config{
		Redis: RedisConfig{
			Mode:         ModeSentinel,
			Addr:         "10.0.0.1:6380",
			Addrs:        []string{"10.0.0.1:26379", "10.0.0.2:26379"},
			MasterName:   "mymaster",
			Username:     "tuskq",
			DB:           2,
			TLS:          TLSConfig{Enabled: true, CAFile: "/etc/ca.pem", CertFile: "/etc/c.pem", KeyFile: "/etc/k.pem", ServerName: "redis.internal", InsecureSkipVerify: true},
			PoolSize:     50,
			DialTimeout:  2 * time.Second,
			ReadTimeout:  1500 * time.Millisecond,
			WriteTimeout: time.Minute,
		},
		Worker: WorkerConfig{
			Concurrency:              7,
			Queues:                   map[string]int{"true": 2, "123": 1, "emails": 5},
			StrictPriority:           true,
			ShutdownTimeout:          0,
			TaskCheckInterval:        5 * time.Millisecond,
			DelayedTaskCheckInterval: 2 * time.Hour,
			Wake:                     WakePoll,
			WakeFallback:             3 * time.Minute,
			Cancelled:                CancelledDelete,
			Listen:                   "",
			HTTPAllowHosts:           []string{"api.example.com", "[::1]:8080"},
		},
		Routes: map[string]RouteConfig{
			"email:send":  {Queue: "emails", MaxRetry: &three, Timeout: 30 * time.Second},
			"email:*":     {Queue: "low", MaxRetry: &zero},
			"*":           {UniqueTTL: time.Hour},
			"null":        {},
			"image.thumb": {Timeout: time.Minute},
		},
		Log: LogConfig{Level: "debug", Format: FormatText, Payloads: true},
		Monitor: MonitorConfig{Listen: ":0", RootPath: "/tuskq", ReadOnly: true,
			Auth: MonitorAuthConfig{FailedLoginBurst: 3, FailedLoginRefill: time.Minute},
			Insight: InsightConfig{Targets: []InsightTarget{{Queue: "critical", Latency: "30s"}},
				Webhook: "https://hooks.example.com/tuskq", WebhookCooldown: time.Hour}},
		API: APIConfig{
			Listen: "0.0.0.0:9000",
			Tokens: []APIToken{
				{Name: "ci", Token: "0123456789abcdef-ci"},
				{Name: "billing", Token: "0123456789abcdef-billing", Queues: []string{"emails", "low"}, TaskTypes: []string{"email:*", "true"}},
			},
			MaxBodyBytes:   2048,
			MaxBatch:       5,
			IdempotencyTTL: time.Minute,
		},
	}
}

// roundTrip writes c, loads it back and returns the result.
func roundTrip(t testing.TB, c Config) (Config, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "printed.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatalf("loading the written config: %v\n%s", err, buf.String())
	}
	return got, buf.String()
}

func TestWriteRoundTrip(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]Config{"default": Default(), "rich": richConfig()} {
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, out := roundTrip(t, c)
		if want := mask(c, newSchema()); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: round trip changed the config:\ngot  %+v\nwant %+v\nwritten:\n%s", name, got, want, out)
		}
	}
}

func TestWriteMasksSecrets(t *testing.T) {
	t.Parallel()
	c := richConfig()
	c.Redis.Password = "hunter2"
	c.Redis.SentinelPassword = "s3cret"
	got, out := roundTrip(t, c)
	if strings.Contains(out, "hunter2") || strings.Contains(out, "s3cret") || strings.Contains(out, "0123456789abcdef") {
		t.Errorf("secret in output:\n%s", out)
	}
	for _, line := range []string{"  password: '****'\n", "  sentinel_password: '****'\n", "  username: tuskq\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	want := richConfig()
	want.Redis.Password, want.Redis.SentinelPassword = "****", "****"
	want.API.Tokens[0].Token, want.API.Tokens[1].Token = "****", "****"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got %+v\nwant %+v", got, want)
	}

	// Unset secrets stay empty rather than looking set.
	var buf bytes.Buffer
	if err := Write(&buf, Default()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "  password: \"\"\n") {
		t.Errorf("empty password not written as \"\":\n%s", buf.String())
	}
}

func TestWriteFormat(t *testing.T) {
	t.Parallel()
	c := Default()
	three := 3
	c.Routes = map[string]RouteConfig{"email:*": {Queue: "low", MaxRetry: &three, Timeout: 90 * time.Second}}
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"worker:\n  concurrency: 20\n  queues:\n    critical: 6\n    default: 3\n    low: 1\n",
		"  shutdown_timeout: 8s\n  task_check_interval: 10ms\n",
		"routes:\n  email:*: {queue: low, max_retry: 3, timeout: 1m30s}\n",
		"  http_allow_hosts: []\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	c := Config{Routes: map[string]RouteConfig{
		"email:send":  {Queue: "exact"},
		"email:*":     {Queue: "email"},
		"email:bulk*": {Queue: "bulk"},
		"*":           {Queue: "all"},
	}}
	for taskType, want := range map[string]string{
		"email:send":      "exact",
		"email:welcome":   "email",
		"email:bulk:news": "bulk",
		"email:":          "email",
		"sms:send":        "all",
	} {
		r, ok := c.Route(taskType)
		if !ok || r.Queue != want {
			t.Errorf("Route(%q) = %+v, %v; want queue %q", taskType, r, ok, want)
		}
	}
	delete(c.Routes, "*")
	if r, ok := c.Route("sms:send"); ok {
		t.Errorf("Route(sms:send) = %+v, true; want no route", r)
	}
}
