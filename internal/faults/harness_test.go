//go:build faults

package faults_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/faults"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redisserver"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/spawn"
	"github.com/tuskq/tuskq/tasks"
)

// workerBin is the faultworker binary built by TestMain.
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faultworker-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		workerBin = filepath.Join(dir, "faultworker")
		cmd := exec.Command("go", "build", "-o", workerBin, "./faultworker")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build ./faultworker: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// Timings shared by the scenarios.
const (
	concurrency = 10
	// drainCap bounds the wait for a queue to empty after a fault: bare
	// asynq needs up to about 165 s to recover the tasks of a dead worker.
	drainCap = 240 * time.Second
	// setupWait bounds waiting for workers to start and for progress.
	setupWait = 60 * time.Second
	pollEvery = 100 * time.Millisecond
)

// target is the queue Redis of a run: one server, or a Sentinel setup.
type target struct {
	server   *redisserver.Server
	sentinel *redisserver.Sentinel
}

func (tg target) redisConfig() config.RedisConfig {
	c := config.Default().Redis
	if tg.sentinel != nil {
		c.Mode = config.ModeSentinel
		c.Addrs = tg.sentinel.Addrs()
		c.MasterName = tg.sentinel.MasterName
		return c
	}
	c.Addr = tg.server.Addr()
	return c
}

// tuskqEnv is the environment that points a tuskq worker at the target.
func (tg target) tuskqEnv() []string {
	if tg.sentinel != nil {
		return []string{
			"TUSKQ_REDIS_MODE=sentinel",
			"TUSKQ_REDIS_ADDRS=" + strings.Join(tg.sentinel.Addrs(), ","),
			"TUSKQ_REDIS_MASTER_NAME=" + tg.sentinel.MasterName,
		}
	}
	return []string{"TUSKQ_REDIS_ADDR=" + tg.server.Addr()}
}

// asynqArgs are the faultworker flags that point a bare asynq server at
// the target.
func (tg target) asynqArgs() []string {
	if tg.sentinel != nil {
		return []string{"--sentinels", strings.Join(tg.sentinel.Addrs(), ","), "--master-name", tg.sentinel.MasterName}
	}
	return []string{"--redis", tg.server.Addr()}
}

// asynqOpt is what a bare asynq user passes to asynq.NewClient.
func (tg target) asynqOpt() asynq.RedisConnOpt {
	if tg.sentinel != nil {
		return asynq.RedisFailoverClientOpt{MasterName: tg.sentinel.MasterName, SentinelAddrs: tg.sentinel.Addrs()}
	}
	return asynq.RedisClientOpt{Addr: tg.server.Addr()}
}

// run is one engine in one scenario: its ledger, producers and workers.
type run struct {
	t        *testing.T
	scenario string
	engine   string
	dir      string
	tg       target
	ledger   *faults.Ledger
	insp     *asynq.Inspector
	enqueue  enqueueFunc
	rec      faults.Record // faults.TaskType enqueues
	crashRec faults.Record // faults.CrashType enqueues
	seq      atomic.Int64
	ledgerAt string // host:port of the ledger Redis
	faultAt  time.Time
	final    faults.Snapshot // read by result
	arch     map[int64]bool  // archived faults.TaskType tasks, read by result

	mu    sync.Mutex
	procs []*spawn.Proc
}

func newRun(t *testing.T, scenario, engine string, tg target) *run {
	t.Helper()
	lsrv := redistest.Start(t)
	lrdb := redis.NewClient(&redis.Options{Addr: lsrv.Addr()})
	t.Cleanup(func() { _ = lrdb.Close() })
	insp, err := inspector(tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = insp.Close() })
	r := &run{
		t: t, scenario: scenario, engine: engine, dir: t.TempDir(), tg: tg,
		ledger: faults.NewLedger(lrdb), ledgerAt: lsrv.Addr(), insp: insp,
	}
	r.enqueue = r.enqueuer()
	t.Cleanup(r.stopAll)
	t.Cleanup(func() {
		if t.Failed() {
			r.dumpLogs()
		}
	})
	return r
}

// inspector is the harness's own view of the queue.
func inspector(tg target) (*asynq.Inspector, error) {
	opt, err := redisconn.ConnOpt(tg.redisConfig())
	if err != nil {
		return nil, err
	}
	return asynq.NewInspector(opt), nil
}

// enqueueFunc enqueues one task: with the task ID id when not empty (bare
// asynq ignores it: a bare user sets none), and returns its ID.
type enqueueFunc func(ctx context.Context, typ string, p faults.Payload, maxRetry *int, id string) (string, error)

// enqueuer returns the engine's producer: tuskq's tasks.Client with its
// defaults, or asynq.Client as a bare user calls it (no task ID, no
// deadline).
func (r *run) enqueuer() enqueueFunc {
	if r.engine == faults.EngineTuskq {
		opt, err := redisconn.ProducerConnOpt(r.tg.redisConfig())
		if err != nil {
			r.t.Fatal(err)
		}
		c, err := tasks.NewClient(opt, tasks.ClientOptions{})
		if err != nil {
			r.t.Fatal(err)
		}
		r.t.Cleanup(func() { _ = c.Close() })
		return func(ctx context.Context, typ string, p faults.Payload, maxRetry *int, id string) (string, error) {
			info, err := c.Enqueue(ctx, typ, p.Encode(), &tasks.EnqueueOptions{MaxRetry: maxRetry, TaskID: id})
			if err != nil {
				return "", err
			}
			return info.ID, nil
		}
	}
	c := asynq.NewClient(r.tg.asynqOpt())
	r.t.Cleanup(func() { _ = c.Close() })
	return func(ctx context.Context, typ string, p faults.Payload, maxRetry *int, _ string) (string, error) {
		var opts []asynq.Option
		if maxRetry != nil {
			opts = append(opts, asynq.MaxRetry(*maxRetry))
		}
		info, err := c.EnqueueContext(ctx, asynq.NewTask(typ, p.Encode()), opts...)
		if err != nil {
			return "", err
		}
		return info.ID, nil
	}
}

// workerOpts are the extras of one worker process.
type workerOpts struct {
	env  []string // tuskq: more TUSKQ_* variables
	args []string // asynq: more flags
}

// startWorker starts a faultworker process of the run's engine.
func (r *run) startWorker(name string, o workerOpts) *spawn.Proc {
	r.t.Helper()
	p, err := r.spawn(name, o)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// spawn starts a faultworker process of the run's engine, its output
// appended to NAME.log in the run's directory (a restart under the same
// name appends to the same log), in a process group of its own.
func (r *run) spawn(name string, o workerOpts) (*spawn.Proc, error) {
	args := []string{"--engine", r.engine, "--ledger", r.ledgerAt, "--name", name}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if r.engine == faults.EngineTuskq {
		env = append(env,
			"TUSKQ_WORKER_CONCURRENCY="+strconv.Itoa(concurrency),
			"TUSKQ_WORKER_QUEUES=default=1",
			"TUSKQ_WORKER_LISTEN=127.0.0.1:0",
			"TUSKQ_WORKER_COMPLETION_RECORD=true",
			"TUSKQ_LOG_LEVEL=info",
		)
		env = append(append(env, r.tg.tuskqEnv()...), o.env...)
	} else {
		args = append(append(append(args, "--concurrency", strconv.Itoa(concurrency)), r.tg.asynqArgs()...), o.args...)
	}
	p, err := spawn.Start(spawn.Options{
		Name: name, Path: workerBin, Args: args, Env: env,
		Log: filepath.Join(r.dir, name+".log"), AppendLog: true, Group: true,
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p, nil
}

func (r *run) stopAll() {
	r.mu.Lock()
	procs := r.procs
	r.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
}

// eachLog calls fn with every distinct log of the run's processes, in
// start order, and its content; a log that cannot be read is skipped.
func (r *run) eachLog(fn func(p *spawn.Proc, log []byte)) {
	r.mu.Lock()
	procs := r.procs
	r.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range procs {
		if seen[p.LogPath()] {
			continue
		}
		seen[p.LogPath()] = true
		b, err := os.ReadFile(p.LogPath())
		if err != nil {
			continue
		}
		fn(p, b)
	}
}

func (r *run) dumpLogs() {
	r.eachLog(func(p *spawn.Proc, b []byte) {
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		r.t.Logf("%s %s log (tail):\n%s", r.engine, p.Name(), b)
	})
}

// poll calls cond every pollEvery until it returns true or until the
// deadline, and reports whether it returned true.
func poll(deadline time.Time, cond func() bool) bool {
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
	return true
}

// waitReady waits until n worker processes report they are processing.
func (r *run) waitReady(n int) {
	r.t.Helper()
	ok := poll(time.Now().Add(setupWait), func() bool {
		c, err := r.ledger.ReadyCount(context.Background())
		return err == nil && c >= n
	})
	if !ok {
		r.t.Fatalf("%s: %d worker processes did not become ready within %s", r.engine, n, setupWait)
	}
}

// waitDone waits until n tasks finished at least once.
func (r *run) waitDone(n int) {
	r.t.Helper()
	ok := poll(time.Now().Add(setupWait), func() bool {
		c, err := r.ledger.DoneCount(context.Background())
		return err == nil && c >= n
	})
	if !ok {
		r.t.Fatalf("%s: %d tasks did not finish within %s", r.engine, n, setupWait)
	}
}

// produceSpec describes the producers' load.
type produceSpec struct {
	count     int                  // faults.TaskType tasks
	rate      int                  // enqueues per second, all producers together
	maxRetry0 func(seq int64) bool // these get MaxRetry(0)
	crashes   int                  // faults.CrashType tasks (MaxRetry 0), spread over the run
}

// producerGoroutines run the enqueues, so that the load goes on while
// some of them wait on a stuck Redis.
const producerGoroutines = 16

// produce starts the producers and returns a function that waits for
// them to finish.
func (r *run) produce(spec produceSpec) (wait func()) {
	total := spec.count + spec.crashes
	crashEvery := 0
	if spec.crashes > 0 {
		crashEvery = total / spec.crashes
	}
	jobs := make(chan int64)
	var wg sync.WaitGroup
	for range producerGoroutines {
		wg.Go(func() {
			for seq := range jobs {
				r.enqueueOne(seq, crashEvery > 0 && seq%int64(crashEvery) == 0, spec.maxRetry0)
			}
		})
	}
	wg.Go(func() {
		defer close(jobs)
		start := time.Now()
		for i := range total {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(spec.rate))); d > 0 {
				time.Sleep(d) // the producers' pace, not a synchronisation
			}
			jobs <- r.seq.Add(1)
		}
	})
	return wg.Wait
}

func (r *run) enqueueOne(seq int64, crash bool, maxRetry0 func(int64) bool) {
	p := faults.NewPayload(seq)
	typ, rec := faults.TaskType, &r.rec
	var mr *int
	if crash {
		typ, rec = faults.CrashType, &r.crashRec
		zero := 0
		mr = &zero
	} else if maxRetry0 != nil && maxRetry0(seq) {
		zero := 0
		mr = &zero
	}
	// A tuskq producer that may have to enqueue again names the task
	// itself (tasks.Client would draw the same kind of UUID).
	var id string
	if r.engine == faults.EngineTuskq {
		id = uuid.NewString()
	}
	start := time.Now()
	got, err := r.enqueue(context.Background(), typ, p, mr, id)
	call := faults.Call{Seq: seq, Start: start, Latency: time.Since(start), ID: got, Err: err}
	if errors.Is(err, tasks.ErrOutcomeUnknown) {
		// What the error asks for: enqueue again with the same ID once
		// Redis answers; a conflict means the first attempt stored it.
		call.Unknown, call.ID = true, id
		call.Resolved = r.enqueueAgain(typ, p, mr, id)
	}
	rec.Add(call)
}

// resolveFor bounds how long a producer keeps enqueueing a task whose
// first enqueue had an unknown outcome.
const resolveFor = 60 * time.Second

// enqueueAgain enqueues the task id again until Redis acknowledges it,
// stored now or by the first attempt (asynq.ErrTaskIDConflict), for at
// most resolveFor.
func (r *run) enqueueAgain(typ string, p faults.Payload, mr *int, id string) bool {
	deadline := time.Now().Add(resolveFor)
	for time.Now().Before(deadline) {
		_, err := r.enqueue(context.Background(), typ, p, mr, id)
		if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) {
			return true
		}
		time.Sleep(200 * time.Millisecond) // a producer's retry pause
	}
	return false
}

// drain waits until the queue holds no pending, active, scheduled, retry
// or aggregating task, polling until deadline, and returns when it saw
// the queue empty (the zero time when it never did).
func (r *run) drain(deadline time.Time) time.Time {
	var at time.Time
	poll(deadline, func() bool {
		qi, err := r.insp.GetQueueInfo("default")
		if err != nil {
			return false
		}
		if qi.Pending+qi.Active+qi.Scheduled+qi.Retry+qi.Aggregating == 0 {
			at = time.Now()
			return true
		}
		return false
	})
	if at.IsZero() {
		r.t.Errorf("%s: the queue did not drain by %s", r.engine, deadline.Format(time.TimeOnly))
	}
	return at
}

// archived returns the sequence numbers of the archived tasks of each
// type.
func (r *run) archived() map[string]map[int64]bool {
	r.t.Helper()
	out := map[string]map[int64]bool{faults.TaskType: {}, faults.CrashType: {}}
	for page := 1; ; page++ {
		list, err := r.insp.ListArchivedTasks("default", asynq.PageSize(1000), asynq.Page(page))
		if err != nil {
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return out
			}
			r.t.Fatalf("list archived tasks: %v", err)
		}
		for _, ti := range list {
			p, err := faults.DecodePayload(ti.Payload)
			if err != nil {
				r.t.Fatalf("archived task %s: %v", ti.ID, err)
			}
			if out[ti.Type] == nil {
				out[ti.Type] = map[int64]bool{}
			}
			out[ti.Type][p.Seq] = true
		}
		if len(list) < 1000 {
			return out
		}
	}
}

// snapshot reads the ledger.
func (r *run) snapshot() faults.Snapshot {
	r.t.Helper()
	s, err := r.ledger.Snapshot(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// result counts the run's faults.TaskType tasks.
func (r *run) result(s faults.Snapshot, archived map[string]map[int64]bool) faults.Result {
	r.final, r.arch = s, archived[faults.TaskType]
	return faults.Result{
		Scenario:          r.scenario,
		Engine:            r.engine,
		Counts:            faults.Count(r.rec.Calls(), s, archived[faults.TaskType]),
		Recovery:          faults.NotMeasured,
		Drained:           faults.NotMeasured,
		MaxEnqueueLatency: faults.NotMeasured,
	}
}

// enqueueErrors describes the errors of the calls in one note.
func enqueueErrors(calls []faults.Call) string {
	kinds := map[string]int{}
	var other error
	for _, c := range calls {
		if c.Err == nil {
			continue
		}
		switch {
		case errors.Is(c.Err, tasks.ErrOutcomeUnknown):
			kinds["outcome unknown"]++
		case errors.Is(c.Err, tasks.ErrEnqueueTimeout):
			kinds["enqueue deadline"]++
		case errors.Is(c.Err, context.DeadlineExceeded), strings.Contains(c.Err.Error(), "i/o timeout"):
			kinds["timeout"]++
		case strings.Contains(c.Err.Error(), "connection refused"):
			kinds["connection refused"]++
		default:
			kinds["other"]++
			if other == nil {
				other = c.Err
			}
		}
	}
	var parts []string
	for _, k := range []string{"outcome unknown", "enqueue deadline", "timeout", "connection refused", "other"} {
		if kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	note := "enqueue errors: " + strings.Join(parts, ", ")
	if other != nil {
		note += fmt.Sprintf(" (first other: %v)", other)
	}
	return note
}

// since returns b−a, or NotMeasured when b is zero.
func since(a, b time.Time) time.Duration {
	if b.IsZero() {
		return faults.NotMeasured
	}
	return b.Sub(a)
}

// checkNoLoss asserts tuskq's first target: nothing acknowledged lost,
// nothing reported failed that was stored. It describes each offending
// enqueue.
func (r *run) checkNoLoss(res *faults.Result) {
	r.t.Helper()
	if res.Acked == 0 {
		r.t.Errorf("%s: no enqueue was acknowledged", res.Scenario)
	}
	for _, c := range r.rec.Calls() {
		if c.Unknown && !c.Resolved {
			r.t.Errorf("%s seq %d: outcome unknown, and enqueueing it again with ID %s was not acknowledged within %s",
				res.Scenario, c.Seq, c.ID, resolveFor)
		}
	}
	if res.Lost == 0 && res.Phantom == 0 {
		return
	}
	r.t.Errorf("%s: %d acknowledged tasks lost, %d phantom enqueues; want 0 and 0", res.Scenario, res.Lost, res.Phantom)
	for _, c := range r.rec.Calls() {
		stored := r.final.Done[c.Seq] > 0 || r.arch[c.Seq]
		acked := c.Err == nil || c.Unknown && c.Resolved
		if acked == stored || c.Unknown && !c.Resolved {
			continue
		}
		what := "lost"
		if !acked {
			what = "phantom"
		}
		finished := "never finished"
		if t, ok := r.final.FirstDone[c.Seq]; ok {
			finished = fmt.Sprintf("first finished %s after the fault", t.Sub(r.faultAt))
		}
		r.t.Errorf("%s seq %d: enqueue began %s after the fault, took %s, error %v; ran %d times, %s",
			what, c.Seq, c.Start.Sub(r.faultAt), c.Latency, c.Err, r.final.Done[c.Seq], finished)
		id := c.ID
		if m := taskIDInError.FindStringSubmatch(fmt.Sprint(c.Err)); m != nil {
			id = m[1]
		}
		r.logLinesOf(id)
	}
}

// taskIDInError finds the task ID in the text of a tasks.Client error.
var taskIDInError = regexp.MustCompile(`as task (\S+?):`)

// logLinesOf logs the worker log lines that mention the task ID.
func (r *run) logLinesOf(id string) {
	if id == "" {
		return
	}
	r.eachLog(func(p *spawn.Proc, b []byte) {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, id) {
				r.t.Logf("%s: %s", p.Name(), line)
			}
		}
	})
}
