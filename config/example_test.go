package config_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
)

// A binary registers the common flags and its own, then loads defaults,
// file, environment and flags in that order of precedence.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "tuskq-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "tuskq.yaml")
	err = os.WriteFile(file, []byte(`
redis:
  addr: redis.internal:6379
worker:
  concurrency: 50
  queues: {critical: 6, default: 3}
routes:
  "email:*": {queue: critical, max_retry: 5}
`), 0o600)
	if err != nil {
		fmt.Println(err)
		return
	}

	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	config.AddFlags(fs)
	fs.Int("concurrency", 0, "tasks processed at once")
	if err := config.BindFlag(fs, "concurrency", "worker.concurrency"); err != nil {
		fmt.Println(err)
		return
	}
	if err := fs.Parse([]string{"--config", file, "--concurrency", "80"}); err != nil {
		fmt.Println(err)
		return
	}

	c, err := config.Load(config.LoadOptions{
		Environ: []string{"TUSKQ_WORKER_SHUTDOWN_TIMEOUT=25s"}, // os.Environ() in a binary
		Flags:   fs,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	route, _ := c.Route("email:welcome")
	fmt.Println(c.Redis.Addr, c.Worker.Concurrency, c.Worker.ShutdownTimeout, c.Worker.Queues)
	fmt.Println(route.Queue, *route.MaxRetry)
	// Output:
	// redis.internal:6379 80 25s map[critical:6 default:3]
	// critical 5
}

// Every problem is reported at once, each naming the key, the value and
// what is expected.
func ExampleConfig_Validate() {
	c := config.Default()
	c.Redis.Mode = "replica"
	c.Worker.Concurrency = 0
	fmt.Println(c.Validate())
	// Output:
	// config: redis.mode: "replica" is not valid; expected standalone, sentinel or cluster
	// config: worker.concurrency: 0 is not valid; expected at least 1
}

// Write prints a configuration as a file that Load reads back, with
// secrets masked.
func ExampleWrite() {
	c := config.Default()
	c.Redis.Password = "hunter2"
	if err := config.Write(os.Stdout, c); err != nil {
		fmt.Println(err)
	}
	// Output:
	// # tuskq effective configuration; secrets that are set are shown as "****"
	// redis:
	//   mode: standalone
	//   addr: 127.0.0.1:6379
	//   addrs: []
	//   master_name: ""
	//   username: ""
	//   password: '****'
	//   sentinel_password: ""
	//   db: 0
	//   tls:
	//     enabled: false
	//     ca_file: ""
	//     cert_file: ""
	//     key_file: ""
	//     server_name: ""
	//     insecure_skip_verify: false
	//   pool_size: 0
	//   dial_timeout: 5s
	//   read_timeout: 3s
	//   write_timeout: 3s
	// worker:
	//   concurrency: 20
	//   queues:
	//     critical: 6
	//     default: 3
	//     low: 1
	//   strict_priority: false
	//   shutdown_timeout: 8s
	//   task_check_interval: 10ms
	//   delayed_task_check_interval: 5s
	//   wake: push
	//   wake_fallback: 5s
	//   cancelled: archive
	//   listen: 127.0.0.1:9464
	//   metrics_token: ""
	//   http_allow_hosts: []
	//   orphan_check_interval: 5s
	//   orphan_grace: 5s
	//   completion_record: false
	//   completion_record_ttl: 15m0s
	//   scheduler: true
	// routes: {}
	// schedules: {}
	// log:
	//   level: info
	//   format: json
	//   payloads: false
	// monitor:
	//   listen: 127.0.0.1:8080
	//   root_path: /
	//   read_only: false
	//   auth:
	//     users: []
	//     tokens: []
	//     failed_login_burst: 10
	//     failed_login_refill: 10s
	//   insight:
	//     enabled: true
	//     targets: []
	//     webhook: ""
	//     webhook_cooldown: 30m0s
	//     webhook_allow_private: false
	// api:
	//   listen: 127.0.0.1:8090
	//   tokens: []
	//   max_body_bytes: 4194304
	//   max_batch: 1000
	//   idempotency_ttl: 24h0m0s
	// plugins:
	//   dir: ""
	//   reload_debounce: 250ms
	//   disabled_retry_delay: 5s
	//   allow_env: []
	//   cache_dir: ""
	//   trusted_keys: []
	// enqueue:
	//   timeout: 2s
	//   wait_replicas: 0
	//   workflow_ttl: 24h0m0s
	// otel:
	//   enabled: false
	//   exporter: otlp
	//   protocol: ""
	//   endpoint: ""
	//   headers: ""
	//   sampler: ""
	//   sampler_ratio: 1
	//   service_name: ""
	//   resource_attributes: ""
	//   redis: false
	//   metrics: false
	//   metrics_interval: 0s
	// limits: []
	// events:
	//   publish: auto
	//   max_len: 100000
}

// Route finds the producer defaults of a task type: the exact type first,
// then the longest prefix pattern.
func ExampleConfig_Route() {
	c := config.Default()
	c.Routes = map[string]config.RouteConfig{
		"email:*":    {Queue: "default"},
		"email:send": {Queue: "critical"},
	}
	for _, taskType := range []string{"email:send", "email:digest", "image:resize"} {
		r, ok := c.Route(taskType)
		fmt.Printf("%s: %q %v\n", taskType, r.Queue, ok)
	}
	// Output:
	// email:send: "critical" true
	// email:digest: "default" true
	// image:resize: "" false
}
