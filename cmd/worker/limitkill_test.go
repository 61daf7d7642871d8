package main_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/tasks"
)

// call is one request the limited tasks made, as the endpoint saw it.
type call struct {
	task       int
	port       int // the worker's source port
	start, end time.Time
	cut        bool // its connection broke before the answer (its worker died)
	held       bool // kept open until its connection breaks (the victim's)
}

// TestConcurrencyLimitSurvivesKilledWorker: three worker processes share a
// fleet-wide limit of 2 on http:request; 60 tasks each hold a request to a
// local endpoint for 300 ms. One worker is SIGKILLed while its request is
// in flight (the endpoint keeps that one open until the kill, so its task
// holds its slot then). From the endpoint's own record of every
// request's start and end, never more than 2 run at once, before, during
// or after the kill; every task completes exactly once more (none is
// charged a retry); and the dead worker's slots expire within the
// documented bound (limits.DefaultLeaseTTL after the kill).
func TestConcurrencyLimitSurvivesKilledWorker(t *testing.T) {
	t.Parallel()
	const (
		n    = 60
		hold = 300 * time.Millisecond
	)
	var (
		mu    sync.Mutex
		calls []*call
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{start: time.Now()}
		c.task, _ = strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/task/"))
		_, p, _ := net.SplitHostPort(r.RemoteAddr)
		c.port, _ = strconv.Atoi(p)
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		timer := time.NewTimer(hold)
		defer timer.Stop()
		select {
		case <-timer.C:
			mu.Lock()
			held := c.held
			if !held {
				c.end = time.Now()
			}
			mu.Unlock()
			if !held {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			// The victim's request: open until its worker is killed.
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Minute):
			}
		case <-r.Context().Done():
		}
		mu.Lock()
		c.end = time.Now()
		c.cut = r.Context().Err() != nil
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	hookURL, _ := url.Parse(hook.URL)

	rs := startRedis(t)
	client := newClient(t, rs.Addr())
	insp := client.Inspector()
	ctx := t.Context()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	// A run-time limit, as `worker limits set` writes it: the workers read
	// it at start.
	if err := limits.NewStore(rdb).Set(ctx, limits.Limit{Name: "calls", Type: "http:request", Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	var workers []*proc
	for range 3 {
		w := startWorker(t, rs.Addr(), "--concurrency", "4",
			"--set", "worker.http_allow_hosts="+hookURL.Host,
			"--set", "worker.orphan_check_interval=100ms", "--set", "worker.orphan_grace=1s")
		w.addr(t)
		workers = append(workers, w)
	}
	ids := make(map[string]int, n)
	for i := range n {
		payload := fmt.Appendf(nil, `{"method":"GET","url":"%s/task/%d"}`, hook.URL, i)
		info, err := client.Enqueue(ctx, "http:request", payload, &tasks.EnqueueOptions{Retention: time.Hour, MaxRetry: new(int)})
		if err != nil {
			t.Fatal(err)
		}
		ids[info.ID] = i
	}

	// Mid-run, find a worker with a request in flight, keep that request
	// open (so its task holds its slot) and kill the worker.
	var victim *proc
	var victimTask int
	poll(t, "a third of the tasks done and a request in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		done := 0
		var open []*call
		for _, c := range calls {
			if c.end.IsZero() {
				open = append(open, c)
			} else {
				done++
			}
		}
		if done < n/3 {
			return false
		}
		for _, c := range open {
			for _, w := range workers {
				if ownsPort(w.cmd.Process.Pid, c.port) {
					victim, victimTask = w, c.task
					c.held = true
					return true
				}
			}
		}
		return false
	})
	if code, _ := victim.stop(t, syscall.SIGKILL); code != -1 {
		t.Fatalf("exit code %d after SIGKILL; want -1", code)
	}
	redisNow, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	var victimID string
	for id, i := range ids {
		if i == victimTask {
			victimID = id
		}
	}

	// The dead worker's slot lease runs out within the bound: its expiry
	// is at most DefaultLeaseTTL after the kill, and the slot is free (no
	// longer counted) once it passed.
	slots := "{tuskq:limit:calls}:slots:"
	exp, err := rdb.ZScore(ctx, slots, victimID).Result()
	if err != nil {
		t.Fatalf("the killed worker's task %s holds no slot at the kill: %v", victimID, err)
	}
	if left := time.Duration(exp-float64(redisNow.UnixMilli())) * time.Millisecond; left > limits.DefaultLeaseTTL {
		t.Fatalf("the killed worker's slot expires %s after the kill; the documented bound is %s", left, limits.DefaultLeaseTTL)
	}
	until(t, limits.DefaultLeaseTTL+time.Minute, "the killed worker's slot freed", func() bool {
		now, err := rdb.Time(ctx).Result()
		if err != nil {
			return false
		}
		s, err := rdb.ZScore(ctx, slots, victimID).Result()
		return errors.Is(err, redis.Nil) || s <= float64(now.UnixMilli())
	})
	t.Logf("the killed worker's slot was free %s after the kill", time.Since(killedAt).Round(time.Millisecond))

	// Every task completes, none charged a retry.
	until(t, 5*time.Minute, "every task completed", func() bool {
		q, err := insp.GetQueueInfo("default")
		return err == nil && q.Completed == n
	})
	done, err := insp.ListCompletedTasks("default", asynq.PageSize(n))
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range done {
		if ti.Retried != 0 {
			t.Errorf("task %s retried %d times; want 0", ti.ID, ti.Retried)
		}
	}
	if q, _ := insp.GetQueueInfo("default"); q.Archived != 0 || q.Retry != 0 {
		t.Errorf("archived %d, retry %d; want 0, 0", q.Archived, q.Retry)
	}

	mu.Lock()
	defer mu.Unlock()
	cut := 0
	for _, c := range calls {
		if c.cut {
			cut++
		}
	}
	if cut == 0 {
		t.Fatal("no request was cut by the kill")
	}
	if peak, at := maxOverlap(calls); peak > 2 {
		t.Fatalf("%d requests ran at once at %s; the limit is 2", peak, at.Format(time.RFC3339Nano))
	} else if peak < 2 {
		t.Fatalf("at most %d request ran at once; want the limit (2) reached", peak)
	}
	t.Logf("%d requests (%d cut by the kill), at most 2 at once", len(calls), cut)
}

// until waits for cond up to limit.
func until(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// maxOverlap is the most calls running at one instant, and that instant.
// At equal times an end comes before a start.
func maxOverlap(calls []*call) (int, time.Time) {
	type ev struct {
		at time.Time
		d  int
	}
	var evs []ev
	for _, c := range calls {
		evs = append(evs, ev{c.start, 1}, ev{c.end, -1})
	}
	slices.SortFunc(evs, func(a, b ev) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.d - b.d
	})
	cur, peak := 0, 0
	var at time.Time
	for _, e := range evs {
		cur += e.d
		if cur > peak {
			peak, at = cur, e.at
		}
	}
	return peak, at
}

// ownsPort reports whether process pid has the loopback TCP socket whose
// local port is port (from /proc: the socket's inode in /proc/net/tcp,
// then among the process's file descriptors).
func ownsPort(pid, port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X", port)
	inode := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasSuffix(f[1], want) {
			inode = f[9]
			break
		}
	}
	if inode == "" {
		return false
	}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == "socket:["+inode+"]" {
			return true
		}
	}
	return false
}
