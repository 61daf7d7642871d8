package topologytest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// pushPickup bounds the pickup of a task by an idle worker woken by its
// token (worker.wake push), on a loaded machine: a millisecond or so on
// an idle one. The tests set worker.wake_fallback to wakeFallback, far
// above it, so that a pickup within pushPickup is the token's doing, not
// the fallback fetch's.
const (
	pushPickup   = 5 * time.Second
	wakeFallback = time.Minute
)

// pushConfig is tp.config(queues) with worker.wake push and the fallback
// fetch a minute away, and concurrency 8: the first of the worker's
// asynq servers has 2 slots, so that one task at a time starts no spare
// server (whose first fetches the tests would count).
func (tp *topo) pushConfig(queues map[string]int) config.Config {
	cfg := tp.config(queues)
	cfg.Worker.Concurrency = 8
	cfg.Worker.Wake = config.WakePush
	cfg.Worker.WakeFallback = wakeFallback
	return cfg
}

// nodeClients returns a plain client to each of addrs, closed when the
// test ends: INFO commandstats counts one node's commands.
func nodeClients(t *testing.T, addrs []string) []*redis.Client {
	t.Helper()
	out := make([]*redis.Client, len(addrs))
	for i, a := range addrs {
		out[i] = redis.NewClient(&redis.Options{Addr: a})
		c := out[i]
		t.Cleanup(func() { _ = c.Close() })
	}
	return out
}

// calls sums command's calls over the nodes (commands run by scripts
// included).
func calls(t *testing.T, nodes []*redis.Client, command string) int {
	t.Helper()
	n := 0
	for _, c := range nodes {
		n += redistest.CommandCalls(t, c, command)
	}
	return n
}

// waiting reports whether every one of addrs has a client blocked (a
// wait of the worker in progress: Redis counts a BLPOP in its
// commandstats only once it returns).
func waiting(t *testing.T, addrs ...string) bool {
	t.Helper()
	for _, a := range addrs {
		if n, _ := strconv.Atoi(infoValue(t, a, "clients", "blocked_clients")); n == 0 {
			return false
		}
	}
	return true
}

// enqueueAndTime enqueues one topo:wake task into queue and returns how
// long it took, from before the enqueue, until rec saw it.
func enqueueAndTime(t *testing.T, c *tasks.Client, rec *recorder, queue string) time.Duration {
	t.Helper()
	begin := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	info, err := c.Enqueue(ctx, "topo:wake", []byte(`{}`), &tasks.EnqueueOptions{Queue: queue})
	cancel()
	if err != nil {
		t.Fatalf("enqueue into %s: %v", queue, err)
	}
	var at time.Time
	poll(t, "task "+info.ID+" processed", func() bool {
		s := rec.byID()[info.ID]
		if len(s) > 0 {
			at = s[0].at
		}
		return len(s) > 0
	})
	return at.Sub(begin)
}

// testClusterWake: in Redis Cluster an idle worker serving three queues,
// one on each node, waits on each queue's marker on its node: it sends no
// fetch while no task arrives (where a polling worker at this
// task_check_interval would fetch about 100 times a second on each), and
// a task in any of the queues is picked up within pushPickup, far below
// the minute of the fallback fetch, by one round of per-queue fetches
// (and the empty round after it).
func testClusterWake(t *testing.T) {
	tp := clusterTopo(redistest.StartCluster(t))
	qs := tp.queues(t, "wake", 3)
	if n := tp.nodes(t, qs); n != 3 {
		t.Fatalf("the three queues live on %d nodes; the test needs 3", n)
	}
	nodes := nodeClients(t, tp.cluster.Addrs())
	rec, reg := recording("topo:wake")
	startWorker(t, tp.pushConfig(weights(qs)), reg)
	c := tp.client(t)
	poll(t, "a blocking wait on every node", func() bool { return waiting(t, tp.cluster.Addrs()...) })
	// A measuring window, not a synchronisation: the worker's forwarder,
	// heartbeat and orphan check run in it; a fetch would show as
	// RPOPLPUSH (asynq's dequeue script runs it on the queue's node).
	fetches := calls(t, nodes, "rpoplpush")
	window := time.NewTimer(3 * time.Second)
	<-window.C
	if got := calls(t, nodes, "rpoplpush") - fetches; got != 0 {
		t.Fatalf("the idle worker fetched %d times in 3 s; want none (it waits on the markers)", got)
	}
	for _, q := range []string{qs[2], qs[0], qs[1]} {
		poll(t, "the worker waiting on every node", func() bool { return waiting(t, tp.cluster.Addrs()...) })
		fetches := calls(t, nodes, "rpoplpush")
		d := enqueueAndTime(t, c, rec, q)
		t.Logf("queue %s on %s: picked up %s after the enqueue", q, tp.node(t, q), d.Round(time.Microsecond))
		if d > pushPickup {
			t.Errorf("a task in queue %s picked up %s after the enqueue; want within %s (the fallback is %s)", q, d, pushPickup, wakeFallback)
		}
		poll(t, "the empty round after the task", func() bool {
			return calls(t, nodes, "rpoplpush")-fetches >= 4
		})
		if got := calls(t, nodes, "rpoplpush") - fetches; got > 6 {
			t.Errorf("a task in queue %s cost %d fetches; want at most 6 (one round of three queues for it, one empty round after)", q, got)
		}
	}
}

// testSentinelWakeSurvivesFailover: an idle worker in Sentinel mode
// waits on the master; after a failover (SENTINEL FAILOVER, the replica
// promoted, the old master made its replica, which ends every wait on
// it) the worker waits on the new master, sending no fetch while idle,
// and tasks enqueued after the failover are picked up within pushPickup,
// far below the minute of the fallback fetch: by their tokens, not by a
// poll.
func testSentinelWakeSurvivesFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	tp := sentinelTopo(s)
	qs := tp.queues(t, "wakefo", 2)
	rec, reg := recording("topo:wake")
	startWorker(t, tp.pushConfig(weights(qs)), reg)
	c := tp.client(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	oldMaster, err := s.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "a blocking wait on the master", func() bool { return waiting(t, oldMaster.Addr()) })
	d := enqueueAndTime(t, c, rec, qs[0])
	t.Logf("before the failover: picked up %s after the enqueue", d.Round(time.Microsecond))

	began := time.Now()
	addr, err := s.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover %s → %s in %s", oldMaster.Addr(), addr, time.Since(began).Round(time.Millisecond))
	// The worker's waits move to the new master, where the tasks'
	// tokens now go.
	poll(t, "the worker waiting on the new master", func() bool { return waiting(t, addr) })
	// A measuring window, not a synchronisation: a worker that could
	// not wait would fetch in it (RPOPLPUSH).
	next := nodeClients(t, []string{addr})
	fetches := calls(t, next, "rpoplpush")
	window := time.NewTimer(2 * time.Second)
	<-window.C
	if got := calls(t, next, "rpoplpush") - fetches; got != 0 {
		t.Fatalf("the idle worker fetched %d times in 2 s after the failover; want none (it waits on the new master)", got)
	}
	for i, q := range []string{qs[1], qs[0], qs[1]} {
		poll(t, "the worker waiting on the new master", func() bool { return waiting(t, addr) })
		d := enqueueAndTime(t, c, rec, q)
		t.Logf("after the failover, task %d (queue %s): picked up %s after the enqueue", i+1, q, d.Round(time.Microsecond))
		if d > pushPickup {
			t.Errorf("task %d enqueued after the failover picked up %s after the enqueue; want within %s (the fallback is %s)", i+1, d, pushPickup, wakeFallback)
		}
	}
}
