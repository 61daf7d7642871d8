//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/faults"
	"github.com/tuskq/tuskq/internal/redisserver"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/spawn"
)

// scenario is one fault, run once per engine.
type scenario struct {
	name string
	run  func(t *testing.T, engine string, res *faults.Result)
}

var scenarios = []scenario{
	{"kill-worker", killWorker},
	{"redis-restart-term", func(t *testing.T, e string, res *faults.Result) { redisRestart(t, e, res, false) }},
	{"redis-restart-kill", func(t *testing.T, e string, res *faults.Result) { redisRestart(t, e, res, true) }},
	{"redis-freeze", redisFreeze},
	{"sentinel-failover", sentinelFailover},
	{"plugin-crash", pluginCrash},
}

// TestFaults runs every scenario against tuskq and bare asynq at once
// (run it with -parallel 12 or more), asserts tuskq's targets and prints
// the table of both, also written to the file named by FAULTS_REPORT.
func TestFaults(t *testing.T) {
	var rep faults.Report
	var order []string
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range scenarios {
			order = append(order, sc.name)
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				for _, engine := range []string{faults.EngineTuskq, faults.EngineAsynq} {
					t.Run(engine, func(t *testing.T) {
						t.Parallel()
						res := faults.Result{
							Scenario: sc.name, Engine: engine, Recovery: faults.NotMeasured,
							Drained: faults.NotMeasured, MaxEnqueueLatency: faults.NotMeasured,
						}
						start := time.Now()
						defer func() {
							if t.Failed() {
								res.Notes = append(res.Notes, "FAILED")
							}
							res.Notes = append(res.Notes, fmt.Sprintf("run %s", time.Since(start).Round(time.Second)))
							rep.Add(res)
						}()
						sc.run(t, engine, &res)
					})
				}
			})
		}
	})
	table := rep.Markdown(order)
	t.Log("\n" + table)
	if path := os.Getenv("FAULTS_REPORT"); path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		header := fmt.Sprintf("Fault tests, %s (go test -tags faults ./internal/faults/)\n\n", time.Now().UTC().Format(time.RFC3339))
		if err := os.WriteFile(path, []byte(header+table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// killWorker: three workers, 5,000 tasks (every other one with MaxRetry 0),
// SIGKILL of one worker when about 30 % are done.
func killWorker(t *testing.T, engine string, res *faults.Result) {
	srv := redistest.Start(t)
	r := newRun(t, "kill-worker", engine, target{server: srv.Server})
	procs := map[string]*spawn.Proc{}
	for i := range 3 {
		name := fmt.Sprintf("w%d", i)
		procs[name] = r.startWorker(name, workerOpts{})
	}
	r.waitReady(3)
	// Every other task has MaxRetry 0; the producers run flat out, so
	// that every worker is busy with a backlog when one is killed.
	maxRetry0 := func(seq int64) bool { return seq%2 == 0 }
	wait := r.produce(produceSpec{count: 5000, rate: 20000, maxRetry0: maxRetry0})
	r.waitDone(1500)
	// The victim is the worker with the most tasks in flight just before
	// the kill (an idle tuskq worker runs one asynq server and adds its
	// spares on a backlog, so the three need not be equally busy at this
	// moment); the scenario is a busy worker killed mid-run.
	atKill := r.snapshot()
	victim := busiest(atKill, procs)
	victim.Kill()
	killedAt := time.Now()
	r.faultAt = killedAt
	before := r.snapshot()
	var inflight []int64
	for seq, owner := range before.Owner {
		if owner == victim.Name() && before.Runs[seq] > before.Done[seq] {
			inflight = append(inflight, seq)
		}
	}
	wait()
	drainedAt := r.drain(killedAt.Add(drainCap))
	snap, arch := r.snapshot(), r.archived()
	*res = r.result(snap, arch)
	res.Drained = since(killedAt, drainedAt)
	var last time.Time
	var rerun, archived, charged, mr0 int
	for _, seq := range inflight {
		if maxRetry0(seq) {
			mr0++
		}
		if snap.Done[seq] > 0 {
			rerun++
			if d := snap.FirstDone[seq]; d.After(last) {
				last = d
			}
		}
		if arch[faults.TaskType][seq] {
			archived++
		}
		if snap.Retried[seq] > 0 {
			charged++
		}
	}
	if rerun > 0 {
		res.Recovery = last.Sub(killedAt) // of those that ran again
	}
	res.Notes = append(res.Notes, fmt.Sprintf("in flight on the killed worker: %d (%d with MaxRetry 0): %d re-ran, %d archived, %d charged a retry",
		len(inflight), mr0, rerun, archived, charged))
	res.Notes = append(res.Notes, "in flight per worker just before the kill (concurrency "+strconv.Itoa(concurrency)+"): "+runningPerWorker(atKill, procs))
	if n := enqueueErrors(r.rec.Calls()); n != "" {
		res.Notes = append(res.Notes, n)
	}
	if len(inflight) == 0 {
		t.Errorf("no task was in flight on the killed worker %s", victim.Name())
	}
	if engine != faults.EngineTuskq {
		return
	}
	r.checkNoLoss(res)
	if res.Archived != 0 {
		t.Errorf("%d tasks archived; want 0 (a lost lease is not a failed attempt)", res.Archived)
	}
	if rerun != len(inflight) || res.Recovery > 100*time.Second {
		t.Errorf("recovery of the %d tasks in flight on the killed worker: %s (%d re-ran); want ≤ 100s", len(inflight), faults.FormatDuration(res.Recovery), rerun)
	}
	if charged != 0 {
		t.Errorf("%d recovered tasks were charged a retry; want 0", charged)
	}
}

// redisRestart: AOF appendfsync always, Redis stopped (SIGTERM) or killed
// (SIGKILL) under load, down about 2 s, started again on its port.
func redisRestart(t *testing.T, engine string, res *faults.Result, kill bool) {
	name := "redis-restart-term"
	if kill {
		name = "redis-restart-kill"
	}
	srv := redistest.Start(t, redistest.WithAppendOnly("always"))
	r := newRun(t, name, engine, target{server: srv.Server})
	outage(t, r, res, func() (time.Time, time.Time) {
		faultAt := time.Now()
		stop := srv.Stop
		if kill {
			stop = srv.Kill
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // the outage itself
		ctx, cancel := context.WithTimeout(context.Background(), setupWait)
		defer cancel()
		if err := srv.Restart(ctx); err != nil {
			t.Fatalf("restart Redis: %v", err)
		}
		return faultAt, time.Now()
	})
	if engine == faults.EngineTuskq && res.Duplicated != 0 {
		t.Errorf("%d tasks ran twice with worker.completion_record on; want 0", res.Duplicated)
	}
}

// redisFreeze: Redis stopped with SIGSTOP for 5 s under load.
func redisFreeze(t *testing.T, engine string, res *faults.Result) {
	srv := redistest.Start(t, redistest.WithAppendOnly("always"))
	r := newRun(t, "redis-freeze", engine, target{server: srv.Server})
	var faultAt, backAt time.Time
	outage(t, r, res, func() (time.Time, time.Time) {
		faultAt = time.Now()
		if err := srv.Freeze(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // the freeze itself
		if err := srv.Thaw(); err != nil {
			t.Fatal(err)
		}
		backAt = time.Now()
		return faultAt, backAt
	})
	if engine != faults.EngineTuskq {
		return
	}
	if res.Duplicated != 0 {
		t.Errorf("%d tasks ran twice with worker.completion_record on; want 0", res.Duplicated)
	}
	// Every enqueue made while Redis was frozen fails within the default
	// deadline (2 s) plus slack for a loaded machine (the suite runs at
	// -parallel 16 on two cores). A call that hung instead would last until
	// the thaw: every call counted below started at least limit before it,
	// so a hang still shows as a latency above limit.
	const limit = 3500 * time.Millisecond
	frozen := 0
	for _, c := range r.rec.Calls() {
		if c.Start.Before(faultAt) || c.Start.After(backAt.Add(-limit)) {
			continue
		}
		frozen++
		if c.Err == nil || c.Latency > limit {
			t.Errorf("enqueue of seq %d during the freeze: %s, error %v; want an error within %s", c.Seq, c.Latency, c.Err, limit)
		}
	}
	if frozen == 0 {
		t.Errorf("no enqueue started during the freeze")
	}
	if res.MaxEnqueueLatency > limit {
		t.Errorf("longest enqueue during the freeze: %s; want ≤ %s", res.MaxEnqueueLatency, limit)
	}
}

// sentinelDownAfter is how long the sentinels wait before they fail over:
// 1 s (redistest's default) fails over on its own now and then on a busy
// 2-core machine running every scenario at once.
const sentinelDownAfter = 2 * time.Second

// sentinelFailover: a master (min-replicas-to-write 1), its replica and
// three sentinels; the master is killed under load.
func sentinelFailover(t *testing.T, engine string, res *faults.Result) {
	// No AOF here: with appendfsync always, a slow fsync on a busy disk
	// stalls the master past down-after and the sentinels fail over on
	// their own before the fault.
	sn := redistest.StartSentinel(t, redistest.WithDownAfter(sentinelDownAfter))
	ctx, cancel := context.WithTimeout(context.Background(), 3*setupWait)
	defer cancel()
	master, err := sn.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// On the master only: once the replica is promoted it has no replica
	// left to satisfy the setting.
	if _, err := redisserver.Do(ctx, master.Addr(), "CONFIG", "SET", "min-replicas-to-write", "1"); err != nil {
		t.Fatal(err)
	}
	r := newRun(t, "sentinel-failover", engine, target{sentinel: sn})
	var took time.Duration
	outage(t, r, res, func() (time.Time, time.Time) {
		if cur, err := sn.MasterAddr(ctx); err != nil || cur != master.Addr() {
			t.Fatalf("the sentinels failed over on their own before the fault (master %s, was %s; %v): the machine is too busy for down-after %s",
				cur, master.Addr(), err, sentinelDownAfter)
		}
		faultAt := time.Now()
		if err := master.Kill(); err != nil {
			t.Fatal(err)
		}
		if _, err := sn.WaitFailover(ctx, master.Addr()); err != nil {
			t.Fatalf("failover: %v", err)
		}
		backAt := time.Now()
		took = backAt.Sub(faultAt)
		return faultAt, backAt
	})
	res.Notes = append([]string{fmt.Sprintf("failover (kill → sentinels agree) %s", faults.FormatDuration(took))}, res.Notes...)
}

// outage runs two workers under a steady load of 2,400 tasks at 200 a
// second and calls fault about 3 s in; fault returns when the fault began
// and when Redis was back.
func outage(t *testing.T, r *run, res *faults.Result, fault func() (faultAt, backAt time.Time)) {
	t.Helper()
	for i := range 2 {
		r.startWorker(fmt.Sprintf("w%d", i), workerOpts{})
	}
	r.waitReady(2)
	wait := r.produce(produceSpec{count: 2400, rate: 200})
	r.waitDone(600)
	faultAt, backAt := fault()
	r.faultAt = faultAt
	wait()
	drainedAt := r.drain(backAt.Add(drainCap))
	snap, arch := r.snapshot(), r.archived()
	*res = r.result(snap, arch)
	res.Drained = since(backAt, drainedAt)
	if first, ok := faults.FirstDoneAfter(snap, backAt); ok {
		res.Recovery = first.Sub(backAt)
	}
	calls := r.rec.Calls()
	res.MaxEnqueueLatency, _ = faults.MaxLatency(calls, faultAt, backAt)
	res.Notes = append(res.Notes, fmt.Sprintf("Redis away %s", faults.FormatDuration(backAt.Sub(faultAt))))
	if n := enqueueErrors(calls); n != "" {
		res.Notes = append(res.Notes, n)
	}
	if r.engine == faults.EngineTuskq {
		r.checkNoLoss(res)
	}
}

// crashPlugin is a process plugin that exits on every task, counting its
// starts in a file.
const crashPlugin = `name: crasher
version: 1.0.0
description: exits on every task (fault tests)
runtime: process
entry: run.sh
task_types:
  ` + faults.CrashType + `:
    timeout: 10s
limits:
  timeout: 10s
  max_concurrency: 2
`

// pluginCrash: 1,500 faults.TaskType tasks at 150 a second with ten
// faults.CrashType tasks (MaxRetry 0) among them, whose handler crashes:
// under tuskq a process plugin that exits, under bare asynq a handler
// that exits the worker process, restarted after 1 s by the harness as a
// supervisor would.
func pluginCrash(t *testing.T, engine string, res *faults.Result) {
	srv := redistest.Start(t)
	r := newRun(t, "plugin-crash", engine, target{server: srv.Server})
	starts := filepath.Join(r.dir, "plugin-starts")
	var restarts func() int
	if engine == faults.EngineTuskq {
		pdir := filepath.Join(r.dir, "plugins")
		if err := os.MkdirAll(filepath.Join(pdir, "crasher"), 0o755); err != nil {
			t.Fatal(err)
		}
		script := "#!/bin/sh\necho start >> " + starts + "\necho '{\"ready\": true}'\nread line\necho 'crashing on purpose' >&2\nexit 3\n"
		for name, c := range map[string]struct {
			text string
			mode os.FileMode
		}{"plugin.yaml": {crashPlugin, 0o644}, "run.sh": {script, 0o755}} {
			if err := os.WriteFile(filepath.Join(pdir, "crasher", name), []byte(c.text), c.mode); err != nil {
				t.Fatal(err)
			}
		}
		r.startWorker("w0", workerOpts{env: []string{"TUSKQ_PLUGINS_DIR=" + pdir}})
		restarts = func() int {
			b, _ := os.ReadFile(starts)
			return max(0, strings.Count(string(b), "start\n")-1)
		}
	} else {
		restarts = r.supervise("w0", workerOpts{args: []string{"--crash-exit"}}, time.Second)
	}
	r.waitReady(1)
	prodStart := time.Now()
	r.faultAt = prodStart
	r.produce(produceSpec{count: 1500, rate: 150, crashes: 10})()
	prodEnd := time.Now()
	drainedAt := r.drain(prodEnd.Add(drainCap))
	snap, arch := r.snapshot(), r.archived()
	*res = r.result(snap, arch)
	res.Drained = since(prodEnd, drainedAt)
	var crashAcked, crashArchived int
	for _, c := range r.crashRec.Calls() {
		if c.Err == nil {
			crashAcked++
			if arch[faults.CrashType][c.Seq] {
				crashArchived++
			}
		}
	}
	gap := faults.MaxGap(snap, prodStart, prodEnd)
	what := "plugin process restarts"
	if engine == faults.EngineAsynq {
		what = "worker process restarts"
	}
	res.Notes = append(res.Notes,
		fmt.Sprintf("%s: %d acked, %d archived, %d lost", faults.CrashType, crashAcked, crashArchived, crashAcked-crashArchived),
		fmt.Sprintf("%s %d", what, restarts()),
		fmt.Sprintf("longest pause in %s completions while producing %s", faults.TaskType, faults.FormatDuration(gap)))
	if n := enqueueErrors(r.rec.Calls()); n != "" {
		res.Notes = append(res.Notes, n)
	}
	if engine != faults.EngineTuskq {
		return
	}
	r.checkNoLoss(res)
	if res.Archived != 0 {
		t.Errorf("%d %s tasks archived; want 0", res.Archived, faults.TaskType)
	}
	if crashAcked == 0 || crashArchived != crashAcked {
		t.Errorf("%s: %d acked, %d archived; want every acked one archived", faults.CrashType, crashAcked, crashArchived)
	}
	if n := restarts(); n < 1 {
		t.Errorf("plugin process restarts: %d; want at least 1", n)
	}
	if gap > 3*time.Second {
		t.Errorf("%s completions paused %s while the plugin crashed; want ≤ 3s", faults.TaskType, gap)
	}
}

// supervise runs a worker process and starts it again delay after each
// exit, as systemd or Kubernetes would, until the test ends; the returned
// function counts the restarts.
func (r *run) supervise(name string, o workerOpts, delay time.Duration) (restarts func() int) {
	var mu sync.Mutex
	n := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	p := r.startWorker(name, o)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-p.Done():
			}
			mu.Lock()
			n++
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(delay):
			}
			var err error
			if p, err = r.spawn(name, o); err != nil {
				r.t.Errorf("restart %s: %v", name, err)
				return
			}
		}
	}()
	r.t.Cleanup(func() {
		close(stop)
		<-done
	})
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// runningPerWorker lists, by name, how many tasks each of procs has
// running in snapshot s: a worker given a backlog runs one on every slot.
func runningPerWorker(s faults.Snapshot, procs map[string]*spawn.Proc) string {
	byOwner := running(s)
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(procs)) {
		parts = append(parts, fmt.Sprintf("%s %d", n, byOwner[n]))
	}
	return strings.Join(parts, ", ")
}

// running counts the tasks running in snapshot s by owner.
func running(s faults.Snapshot) map[string]int {
	out := map[string]int{}
	for seq, owner := range s.Owner {
		if s.Runs[seq] > s.Done[seq] {
			out[owner]++
		}
	}
	return out
}

// busiest returns the process, of procs, that has the most tasks running
// in snapshot s (the first by name on a tie).
func busiest(s faults.Snapshot, procs map[string]*spawn.Proc) *spawn.Proc {
	byOwner := running(s)
	names := slices.Sorted(maps.Keys(procs))
	best := names[0]
	for _, n := range names[1:] {
		if byOwner[n] > byOwner[best] {
			best = n
		}
	}
	return procs[best]
}
