package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/tasks"
)

// ErrNothingProcessed is returned by Run, with the summary, when no task
// was processed: the demo did not work.
var ErrNothingProcessed = errors.New("no task was processed")

// Defaults of Options.
const (
	DefaultMonitorListen = "127.0.0.1:8080"
	DefaultStateDir      = ".demo"
	DefaultWorkers       = 2
	DefaultInterval      = time.Second
	DefaultStatusEvery   = 3 * time.Second
	// workerShutdown is the workers' worker.shutdown_timeout.
	workerShutdown = 3 * time.Second
	// readyTimeout bounds the start of each process.
	readyTimeout = 20 * time.Second
)

// Options configures a demo run. The zero value of each field takes the
// default named in its comment.
type Options struct {
	// Duration is how long tasks are produced; 0 runs until ctx ends.
	Duration time.Duration
	// BinDir holds prebuilt worker, monitor and enqueue binaries. Empty
	// builds them with the go command into a temporary directory.
	BinDir string
	// ModuleDir is where the go command builds ./cmd/...; empty is the
	// current directory.
	ModuleDir string
	// StateDir receives the logs of the processes, in StateDir/logs.
	// Default DefaultStateDir.
	StateDir string
	// Redis is RedisAuto (default), RedisServer or RedisEmbedded. It is
	// ignored when External is set.
	Redis string
	// External, when set, is a Redis the user runs (TUSKQ_REDIS_ADDR): the
	// demo starts none and leaves its data in place.
	External *config.RedisConfig
	// MonitorListen is the monitor's address, DefaultMonitorListen; a free
	// loopback port is used when it is taken.
	MonitorListen string
	// Workers is the number of worker processes, DefaultWorkers.
	Workers int
	// Interval is the time between producer rounds (about ten tasks
	// each), DefaultInterval.
	Interval time.Duration
	// StatusEvery is the time between status lines, DefaultStatusEvery;
	// negative prints none.
	StatusEvery time.Duration
	// EnqueueTimeout bounds each enqueue of the demo's producer, as
	// tasks.ClientOptions.EnqueueTimeout: 0 is its default (2s), negative
	// none. The command sets it from enqueue.timeout with External.
	EnqueueTimeout time.Duration
	// Environ is the environment the child processes inherit.
	Environ []string
	// Out receives the progress lines; nil discards them.
	Out io.Writer
}

func (o Options) withDefaults() Options {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.MonitorListen == "" {
		o.MonitorListen = DefaultMonitorListen
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.StatusEvery == 0 {
		o.StatusEvery = DefaultStatusEvery
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return o
}

// run is the state of one demo run; cleanups run in reverse order.
type run struct {
	opts     Options
	out      io.Writer
	cleanups []func() error
	errs     []error
}

func (r *run) printf(format string, args ...any) { _, _ = fmt.Fprintf(r.out, format+"\n", args...) }

func (r *run) onCleanup(f func() error) { r.cleanups = append(r.cleanups, f) }

// cleanup runs the cleanups not yet run, newest first.
func (r *run) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		if err := r.cleanups[i](); err != nil {
			r.errs = append(r.errs, err)
		}
	}
	r.cleanups = nil
}

// Run brings up Redis, the webhook endpoint, the workers and the monitor,
// produces tasks until Duration passes or ctx ends, stops everything it
// started and returns what was processed. It returns the summary with
// ErrNothingProcessed when no task was processed, and the summary with the
// errors of stopping the processes when one of them did not stop cleanly.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	opts = opts.withDefaults()
	r := &run{opts: opts, out: opts.Out}
	sum, err := r.run(ctx)
	r.cleanup()
	if err != nil {
		return sum, err
	}
	if len(r.errs) > 0 {
		return sum, fmt.Errorf("the demo did not end cleanly: %w", errors.Join(r.errs...))
	}
	if sum.Processed() == 0 {
		return sum, fmt.Errorf("%w in %s: see the logs in %s", ErrNothingProcessed,
			sum.Elapsed.Round(time.Second), filepath.Join(opts.StateDir, "logs"))
	}
	return sum, nil
}

func (r *run) run(ctx context.Context) (*Summary, error) {
	opts := r.opts
	logDir := filepath.Join(opts.StateDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	tmp, err := os.MkdirTemp("", "tuskq-demo-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	r.onCleanup(func() error { return os.RemoveAll(tmp) })

	binDir := opts.BinDir
	if binDir == "" {
		binDir = filepath.Join(tmp, "bin")
		r.printf("building worker, monitor and enqueue…")
		if err := buildBinaries(ctx, opts.ModuleDir, binDir); err != nil {
			return nil, err
		}
	} else if err := checkBinaries(binDir); err != nil {
		return nil, err
	}

	rh, err := startRedis(ctx, opts, tmp)
	if err != nil {
		return nil, err
	}
	r.onCleanup(rh.stop)
	r.printf("%s", rh.desc)

	redisCfg := config.Default().Redis
	redisCfg.Addr = rh.addr
	if opts.External != nil {
		redisCfg = *opts.External
	}
	connOpt, err := redisconn.ProducerConnOpt(redisCfg)
	if err != nil {
		return nil, err
	}
	client, err := tasks.NewClient(connOpt, tasks.ClientOptions{EnqueueTimeout: opts.EnqueueTimeout})
	if err != nil {
		return nil, err
	}
	r.onCleanup(client.Close)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = client.Ping(pingCtx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("redis at %s does not answer: %w", redisCfg.Addr, err)
	}

	hook, err := startWebhook()
	if err != nil {
		return nil, err
	}
	r.onCleanup(hook.Close)
	r.printf("webhook endpoint: %s (answers 200, 503 or 404; only it is on the workers' allow-list)", hook.URL())

	env := childEnv(opts, rh.addr, hook.Addr())
	workers, monitorURL, err := r.startProcesses(ctx, binDir, logDir, env)
	if err != nil {
		return nil, err
	}
	r.printf("monitor: %s", monitorURL)
	r.printf("logs: %s/ (worker-N.log, monitor.log: JSON lines)", logDir)
	r.printf("try: %s", tryLine(opts.BinDir, rh.addr))

	base, err := queueCounters(client.Inspector())
	if err != nil {
		return nil, err
	}
	p := &producer{client: client, url: hook.URL(), interval: opts.Interval, enqueued: map[string]int{}}
	if opts.Duration > 0 {
		r.printf("producing about 10 tasks every %s for %s; Ctrl-C stops everything", opts.Interval, opts.Duration)
	} else {
		r.printf("producing about 10 tasks every %s; Ctrl-C stops everything", opts.Interval)
	}
	elapsed := r.produce(ctx, p, client.Inspector(), base, hook, workers)

	// Stop the producer (done), then the workers, so that the final
	// counters include every attempt that was in flight.
	r.printf("stopping…")
	r.errs = append(r.errs, stopAll(workers, workerShutdown+5*time.Second)...)
	sum := &Summary{Elapsed: elapsed, RedisKind: rh.kind, RedisAddr: redisCfg.Addr}
	sum.Enqueued, sum.EnqueueErrors, sum.LastEnqueueError = p.snapshot()
	now, err := queueCounters(client.Inspector())
	if err != nil {
		return sum, err
	}
	sum.Queues = queueStats(now, base)
	sum.Webhook = hook.Stats()
	return sum, nil
}

// produce runs the producer and prints status lines until the duration
// passes, ctx ends or a worker dies. It returns how long it produced.
func (r *run) produce(ctx context.Context, p *producer, insp *asynq.Inspector, base map[string]*asynq.QueueInfo, hook *webhook, workers []*child) time.Duration {
	start := time.Now()
	pctx, stop := context.WithCancel(ctx)
	if r.opts.Duration > 0 {
		pctx, stop = context.WithTimeout(ctx, r.opts.Duration)
	}
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { p.run(pctx) })
	var tick <-chan time.Time
	if r.opts.StatusEvery > 0 {
		t := time.NewTicker(r.opts.StatusEvery)
		defer t.Stop()
		tick = t.C
	}
	died := make(chan *child, len(workers))
	for _, w := range workers {
		go func() {
			select {
			case <-w.Done():
				died <- w
			case <-pctx.Done():
			}
		}()
	}
loop:
	for {
		select {
		case <-pctx.Done():
			break loop
		case w := <-died:
			r.errs = append(r.errs, w.diedError())
			break loop
		case <-tick:
			if now, err := queueCounters(insp); err == nil {
				r.printf("%s", statusLine(time.Since(start), p.total(), queueStats(now, base), hook.Stats()))
			}
		}
	}
	stop()
	wg.Wait()
	return time.Since(start)
}

// startProcesses starts the workers and the monitor and waits until they
// are ready. It returns the workers and the monitor's URL.
func (r *run) startProcesses(ctx context.Context, binDir, logDir string, env map[string]string) ([]*child, string, error) {
	var workers []*child
	r.onCleanup(func() error { return errors.Join(stopAll(workers, workerShutdown+5*time.Second)...) })
	var metrics []string
	for i := 1; i <= r.opts.Workers; i++ {
		listen, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		wenv := map[string]string{"TUSKQ_WORKER_LISTEN": listen}
		for k, v := range env {
			wenv[k] = v
		}
		name := "worker-" + strconv.Itoa(i)
		c, err := startChild(name, filepath.Join(binDir, "worker"), nil,
			r.childEnviron(wenv), filepath.Join(logDir, name+".log"))
		if err != nil {
			return nil, "", err
		}
		workers = append(workers, c)
		metrics = append(metrics, "http://"+listen+"/metrics")
	}
	monListen, err := preferAddr(r.opts.MonitorListen)
	if err != nil {
		return nil, "", err
	}
	menv := map[string]string{"TUSKQ_MONITOR_LISTEN": monListen}
	for k, v := range env {
		menv[k] = v
	}
	mon, err := startChild("monitor", filepath.Join(binDir, "monitor"), nil,
		r.childEnviron(menv), filepath.Join(logDir, "monitor.log"))
	if err != nil {
		return nil, "", err
	}
	r.onCleanup(func() error { return mon.stop(5 * time.Second) })
	for i, w := range workers {
		if err := w.waitReady(ctx, strings.TrimSuffix(metrics[i], "/metrics")+"/readyz", readyTimeout); err != nil {
			return nil, "", err
		}
	}
	monURL := "http://" + monListen + "/"
	if err := mon.waitReady(ctx, monURL+"healthz", readyTimeout); err != nil {
		return nil, "", err
	}
	r.printf("workers: %d running, metrics at %s", len(workers), strings.Join(metrics, " "))
	return workers, monURL, nil
}

// stopAll stops children in parallel and returns their errors.
func stopAll(children []*child, grace time.Duration) []error {
	errs := make([]error, len(children))
	var wg sync.WaitGroup
	for i, c := range children {
		wg.Go(func() { errs[i] = c.stop(grace) })
	}
	wg.Wait()
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// childEnv returns the TUSKQ_ variables every child gets.
func childEnv(opts Options, redisAddr, hookAddr string) map[string]string {
	env := map[string]string{
		"TUSKQ_LOG_FORMAT":                 "json",
		"TUSKQ_WORKER_CONCURRENCY":         "10",
		"TUSKQ_WORKER_SHUTDOWN_TIMEOUT":    workerShutdown.String(),
		"TUSKQ_WORKER_HTTP_ALLOW_HOSTS":    hookAddr,
		"TUSKQ_WORKER_QUEUES":              "critical=6,default=3,low=1",
		"TUSKQ_WORKER_STRICT_PRIORITY":     "false",
		"TUSKQ_WORKER_TASK_CHECK_INTERVAL": "100ms",
	}
	if opts.External == nil {
		// A throwaway Redis: none of the user's TUSKQ_REDIS_* settings
		// (password, TLS, mode) apply to it; see childEnviron.
		env["TUSKQ_REDIS_ADDR"] = redisAddr
		env["TUSKQ_REDIS_MODE"] = config.ModeStandalone
	}
	return env
}

// childEnviron is the environment of a child: the demo's own environment
// with set applied. With a Redis the demo started, the user's TUSKQ_REDIS_*
// variables are dropped.
func (r *run) childEnviron(set map[string]string) []string {
	base := r.opts.Environ
	if r.opts.External == nil {
		base = make([]string, 0, len(r.opts.Environ))
		for _, kv := range r.opts.Environ {
			if !strings.HasPrefix(kv, "TUSKQ_REDIS_") {
				base = append(base, kv)
			}
		}
	}
	return mergeEnv(base, set)
}

// tryLine suggests an enqueue command for the running demo.
func tryLine(binDir, redisAddr string) string {
	cmd := "go run ./cmd/enqueue"
	if binDir != "" {
		cmd = filepath.Join(binDir, "enqueue")
	}
	return fmt.Sprintf(`%s --redis-addr %s --queue critical demo:echo '{"hello":"world"}'`, cmd, redisAddr)
}
