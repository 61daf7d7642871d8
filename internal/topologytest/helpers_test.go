package topologytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	redislog "github.com/redis/go-redis/v9/logging"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redisserver"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

func TestMain(m *testing.M) {
	// go-redis logs failed dials through a global logger; the failover
	// test would flood the output.
	redislog.Disable()
	os.Exit(m.Run())
}

// waitFor bounds every wait of the tests.
const waitFor = 30 * time.Second

// topo is one running Redis topology and the redis section that reaches
// it.
type topo struct {
	mode    string
	redis   config.RedisConfig
	cluster *redisserver.Cluster // cluster mode
}

// clusterTopo describes a running cluster as configuration.
func clusterTopo(c *redisserver.Cluster) *topo {
	r := config.Default().Redis
	r.Mode, r.Addr, r.Addrs = config.ModeCluster, "", c.Addrs()
	return &topo{mode: config.ModeCluster, redis: r, cluster: c}
}

// sentinelTopo describes a running sentinel setup as configuration.
func sentinelTopo(s *redisserver.Sentinel) *topo {
	r := config.Default().Redis
	r.Mode, r.Addr, r.Addrs, r.MasterName = config.ModeSentinel, "", s.Addrs(), s.MasterName
	return &topo{mode: config.ModeSentinel, redis: r}
}

// config returns a configuration for fast tests on the topology, with
// the worker serving queues.
func (tp *topo) config(queues map[string]int) config.Config {
	cfg := config.Default()
	cfg.Redis = tp.redis
	cfg.Worker.Listen = ""
	cfg.Worker.Concurrency = 4
	cfg.Worker.Queues = queues
	cfg.Worker.TaskCheckInterval = 10 * time.Millisecond
	cfg.Worker.DelayedTaskCheckInterval = 100 * time.Millisecond
	cfg.Worker.ShutdownTimeout = 2 * time.Second
	return cfg
}

// client returns a producer on the topology, closed when the test ends.
func (tp *topo) client(t *testing.T, routes ...tasks.Route) *tasks.Client {
	t.Helper()
	opt, err := redisconn.ConnOpt(tp.redis)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tasks.NewClient(opt, tasks.ClientOptions{Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// queues returns n queue names for the test starting with prefix. In
// cluster mode they are picked so that they live on as many different
// nodes as possible (asynq keeps a queue's keys in the slot of its name).
func (tp *topo) queues(t *testing.T, prefix string, n int) []string {
	t.Helper()
	if tp.cluster == nil {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%d", prefix, i)
		}
		return out
	}
	var out, rest []string
	used := map[string]bool{}
	for i := 0; len(out) < n && i < 1000; i++ {
		q := fmt.Sprintf("%s-%d", prefix, i)
		node := tp.node(t, q)
		if used[node] {
			rest = append(rest, q)
			continue
		}
		used[node] = true
		out = append(out, q)
		if len(used) == len(tp.cluster.Nodes) {
			break
		}
	}
	for len(out) < n {
		out, rest = append(out, rest[0]), rest[1:]
	}
	return out
}

// node returns the address of the cluster node that holds queue.
func (tp *topo) node(t *testing.T, queue string) string {
	t.Helper()
	key := "asynq:{" + queue + "}:pending"
	for _, addr := range tp.cluster.Addrs() {
		// Only the owner answers; the others redirect with MOVED.
		if _, err := redisserver.Do(t.Context(), addr, "EXISTS", key); err == nil {
			return addr
		}
	}
	t.Fatalf("no cluster node holds %s", key)
	return ""
}

// nodes returns how many distinct cluster nodes hold the queues (1
// outside cluster mode).
func (tp *topo) nodes(t *testing.T, queues []string) int {
	t.Helper()
	if tp.cluster == nil {
		return 1
	}
	seen := map[string]bool{}
	for _, q := range queues {
		seen[tp.node(t, q)] = true
	}
	return len(seen)
}

// weights gives the queues weights n, n-1, …, 1.
func weights(queues []string) map[string]int {
	m := make(map[string]int, len(queues))
	for i, q := range queues {
		m[q] = len(queues) - i
	}
	return m
}

// noDelay retries at once (asynq rounds retry times down to the second).
func noDelay(int, error, *asynq.Task) time.Duration { return 0 }

// running is a worker started by a test.
type running struct {
	*worker.Worker
	logs   *testutil.LogBuffer
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the worker and waits for Run; later calls return the same
// result.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(waitFor):
		t.Fatal("worker did not stop in time")
		return nil
	}
}

// startWorker runs a worker with cfg and reg until the test ends, logging
// JSON into its logs, and waits until it is ready. Failed tasks are
// retried at once unless opts sets RetryDelay.
func startWorker(t *testing.T, cfg config.Config, reg *tasks.Registry, opts ...func(*worker.Options)) *running {
	t.Helper()
	logs := &testutil.LogBuffer{}
	o := worker.Options{Config: cfg, Logger: logs.Logger(t, nil), Registry: reg, RetryDelay: noDelay}
	for _, f := range opts {
		f(&o)
	}
	w, err := worker.New(o)
	if err != nil {
		t.Fatalf("worker.New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{Worker: w, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(t); err != nil {
			t.Errorf("worker Run: %v", err)
		}
	})
	select {
	case <-w.Ready():
	case err := <-r.done:
		r.done <- err
		t.Fatalf("worker Run returned before ready: %v", err)
	case <-time.After(waitFor):
		t.Fatal("worker not ready in time")
	}
	return r
}

// poll calls cond until it returns true, failing the test after waitFor.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Poll(t, waitFor, what, cond)
}

// wait waits until the task is completed or archived.
func wait(t *testing.T, c *tasks.Client, queue, id string) *asynq.TaskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	info, err := c.Wait(ctx, queue, id)
	if err != nil {
		t.Fatalf("wait for task %s/%s: %v", queue, id, err)
	}
	return info
}

// counter counts events per key.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// httpGet fetches url and returns the status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// writeConfig writes cfg as a YAML config file and returns its path.
func writeConfig(t *testing.T, cfg config.Config) string {
	t.Helper()
	var b bytes.Buffer
	if err := config.Write(&b, cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tuskq.yaml")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func intp(n int) *int { return &n }
