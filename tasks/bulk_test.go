package tasks_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// bulkCase is one set of options enqueued both ways.
type bulkCase struct {
	name    string
	typ     string
	payload []byte
	opts    tasks.EnqueueOptions
}

// bulkEpoch is the clock reading every bulkCases call derives its times
// from: the cases built for asynq, Enqueue and EnqueueMany must carry the
// same deadline and process-at time even when building them spans a
// second boundary on a loaded machine.
var bulkEpoch = time.Now()

func bulkCases(suffix string) []bulkCase {
	deadline := bulkEpoch.Add(3 * time.Hour).Truncate(time.Second)
	at := bulkEpoch.Add(2 * time.Hour).Truncate(time.Second)
	return []bulkCase{
		{"plain", "compat:plain", []byte(`{"n":1}`), tasks.EnqueueOptions{}},
		{"nil payload", "compat:nil", nil, tasks.EnqueueOptions{}},
		{"all options", "compat:all", []byte("payload-all"), tasks.EnqueueOptions{
			Queue: "critical", MaxRetry: intp(3), Timeout: 90 * time.Second, Deadline: deadline,
			Retention: time.Hour, TaskID: "all-" + suffix, Headers: map[string]string{"x-tenant": "7"},
		}},
		{"deadline only", "compat:deadline", []byte("d"), tasks.EnqueueOptions{Deadline: deadline}},
		{"no retries", "compat:noretry", []byte("r"), tasks.EnqueueOptions{MaxRetry: intp(0)}},
		{"unique", "compat:unique", []byte("unique-" + suffix), tasks.EnqueueOptions{UniqueTTL: time.Hour}},
		{"unique nil payload", "compat:unique-nil-" + suffix, nil, tasks.EnqueueOptions{UniqueTTL: time.Hour}},
		{"scheduled in", "compat:in", []byte("in"), tasks.EnqueueOptions{ProcessIn: time.Hour, Queue: "low"}},
		{"scheduled at, unique", "compat:at", []byte("at-" + suffix), tasks.EnqueueOptions{ProcessAt: at, UniqueTTL: time.Hour}},
		{"past process-at", "compat:past", []byte("past"), tasks.EnqueueOptions{ProcessAt: time.Now().Add(-time.Hour)}},
	}
}

// asynqOptions are o as options of asynq's own client.
func asynqOptions(o tasks.EnqueueOptions) []asynq.Option {
	var opts []asynq.Option
	if o.Queue != "" {
		opts = append(opts, asynq.Queue(o.Queue))
	}
	if o.MaxRetry != nil {
		opts = append(opts, asynq.MaxRetry(*o.MaxRetry))
	}
	if o.Timeout > 0 {
		opts = append(opts, asynq.Timeout(o.Timeout))
	}
	if !o.Deadline.IsZero() {
		opts = append(opts, asynq.Deadline(o.Deadline))
	}
	if o.UniqueTTL > 0 {
		opts = append(opts, asynq.Unique(o.UniqueTTL))
	}
	if o.TaskID != "" {
		opts = append(opts, asynq.TaskID(o.TaskID))
	}
	if o.Retention > 0 {
		opts = append(opts, asynq.Retention(o.Retention))
	}
	if !o.ProcessAt.IsZero() {
		opts = append(opts, asynq.ProcessAt(o.ProcessAt))
	}
	if o.ProcessIn > 0 {
		opts = append(opts, asynq.ProcessIn(o.ProcessIn))
	}
	return opts
}

// TestEnqueueManyMatchesAsynq enqueues the same tasks through asynq's own
// client, through Enqueue and through the pipelined bulk path, and checks
// that asynq reads all three back identically: every TaskInfo field
// through the Inspector, the task hashes (tuskq's hold one more field, the
// nonce), the unique locks, the queue list; and that a real asynq server
// processes the tasks tuskq stored.
func TestEnqueueManyMatchesAsynq(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ac := asynq.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()})
	t.Cleanup(func() { _ = ac.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	insp := c.Inspector()

	ref := bulkCases("asynq")
	refInfo := make([]*asynq.TaskInfo, len(ref))
	for i, bc := range ref {
		info, err := ac.EnqueueContext(ctx, asynq.NewTaskWithHeaders(bc.typ, bc.payload, bc.opts.Headers), asynqOptions(bc.opts)...)
		if err != nil {
			t.Fatalf("asynq Enqueue %s: %v", bc.name, err)
		}
		refInfo[i] = info
	}
	single := bulkCases("single")
	singleInfo := make([]*tasks.TaskInfo, len(single))
	for i, bc := range single {
		o := bc.opts
		info, err := c.Enqueue(ctx, bc.typ, bc.payload, &o)
		if err != nil {
			t.Fatalf("Enqueue %s: %v", bc.name, err)
		}
		singleInfo[i] = info
	}
	bulk := bulkCases("bulk")
	reqs := make([]tasks.Request, len(bulk))
	for i, bc := range bulk {
		reqs[i] = tasks.Request{Type: bc.typ, Payload: bc.payload, Options: bc.opts}
	}
	bulkRes := c.EnqueueMany(ctx, reqs, 0)
	for i, r := range bulkRes {
		if r.Err != nil {
			t.Fatalf("EnqueueMany %s: %v", bulk[i].name, r.Err)
		}
	}

	for i := range ref {
		a := refInfo[i]
		ga, err := insp.GetTaskInfo(a.Queue, a.ID)
		if err != nil {
			t.Fatalf("%s: GetTaskInfo of asynq's task: %v", ref[i].name, err)
		}
		ha := rdb.HGetAll(ctx, "asynq:{"+a.Queue+"}:t:"+a.ID).Val()
		for _, path := range []struct {
			name  string
			cases []bulkCase
			info  *tasks.TaskInfo
		}{
			{"Enqueue", single, singleInfo[i]},
			{"EnqueueMany", bulk, bulkRes[i].Info},
		} {
			name := path.name + " " + ref[i].name
			b := path.info
			// The TaskInfo returned matches asynq's.
			compareInfo(t, name+": returned", a, b.TaskInfo, 2*time.Second)
			if b.TraceID == "" || tasks.TraceIDFromHeaders(b.Headers) != b.TraceID {
				t.Errorf("%s: trace ID %q, headers %v", name, b.TraceID, b.Headers)
			}
			// asynq reads both back the same.
			gb, err := insp.GetTaskInfo(b.Queue, b.ID)
			if err != nil {
				t.Fatalf("%s: GetTaskInfo: %v", name, err)
			}
			compareInfo(t, name+": stored", ga, gb, 2*time.Second)
			compareInfo(t, name+": stored vs returned", gb, b.TaskInfo, time.Second)
			for _, info := range []*asynq.TaskInfo{b.TaskInfo, gb} {
				if info.Type != path.cases[i].typ || string(info.Payload) != string(path.cases[i].payload) {
					t.Errorf("%s: type %q payload %q; want %q %q", name, info.Type, info.Payload, path.cases[i].typ, path.cases[i].payload)
				}
			}
			// The task hashes hold asynq's fields, and tuskq's nonce.
			hb := rdb.HGetAll(ctx, "asynq:{"+b.Queue+"}:t:"+b.ID).Val()
			if len(hb["tuskq_enq"]) != 32 {
				t.Errorf("%s: tuskq_enq = %q; want a 32-digit nonce", name, hb["tuskq_enq"])
			}
			delete(hb, "tuskq_enq")
			if ka, kb := sortedKeys(ha), sortedKeys(hb); !slices.Equal(ka, kb) || ha["state"] != hb["state"] {
				t.Errorf("%s: task hash fields %v state %q; asynq's %v state %q", name, kb, hb["state"], ka, ha["state"])
			}
			// A unique task holds its lock, owned by its ID, for the same time.
			if ha["unique_key"] != "" {
				lock := hb["unique_key"]
				if want := wantUniqueKey(b); lock != want {
					t.Errorf("%s: unique key %q; want %q", name, lock, want)
				}
				if owner := rdb.Get(ctx, lock).Val(); owner != b.ID {
					t.Errorf("%s: unique lock owned by %q; want %q", name, owner, b.ID)
				}
				ta, tb := rdb.TTL(ctx, ha["unique_key"]).Val(), rdb.TTL(ctx, lock).Val()
				if d := ta - tb; d < -2*time.Second || d > 2*time.Second || tb <= 0 {
					t.Errorf("%s: unique lock TTL %s; asynq's %s", name, tb, ta)
				}
			}
		}
	}
	queues := rdb.SMembers(ctx, "asynq:queues").Val()
	sort.Strings(queues)
	if want := []string{"critical", "default", "low"}; !slices.Equal(queues, want) {
		t.Errorf("asynq:queues = %v; want %v", queues, want)
	}

	// Duplicates and ID conflicts fail per task with asynq's errors and
	// Enqueue's texts; the other tasks of the batch are stored.
	again := []tasks.Request{
		reqs[5], // unique, still locked
		{Type: "compat:x", Options: tasks.EnqueueOptions{TaskID: "all-bulk", Queue: "critical"}, Payload: []byte("x")},
		{Type: "compat:fresh", Payload: []byte("fresh")},
		{Type: "compat:x", Options: tasks.EnqueueOptions{UniqueTTL: 500 * time.Millisecond}},
		{Type: "compat:x", Options: tasks.EnqueueOptions{TaskID: "  "}},
		{Type: "compat:x", Options: tasks.EnqueueOptions{Queue: " "}},
	}
	res := c.EnqueueMany(ctx, again, 1)
	_, dupErr := c.Enqueue(ctx, reqs[5].Type, reqs[5].Payload, &reqs[5].Options)
	_, idErr := c.Enqueue(ctx, "compat:x", []byte("x"), &tasks.EnqueueOptions{TaskID: "all-bulk", Queue: "critical"})
	for i, want := range []struct {
		is  error
		msg string
	}{
		{asynq.ErrDuplicateTask, dupErr.Error()},
		{asynq.ErrTaskIDConflict, idErr.Error()},
		{nil, ""},
		{tasks.ErrBadOptions, `tasks: enqueue "compat:x": bad enqueue options: UniqueTTL: 500ms is less than 1s; expected a whole number of seconds from 1s to 720h0m0s (30 days)`},
		{tasks.ErrBadOptions, `tasks: enqueue "compat:x": bad enqueue options: TaskID: the task ID is blank; leave it out to get a generated one`},
		{tasks.ErrBadOptions, `tasks: enqueue "compat:x": bad enqueue options: Queue: the queue name is blank; name a queue such as default, or leave it out to use the route's`},
	} {
		got := res[i].Err
		if want.is == nil {
			if got != nil || res[i].Info == nil {
				t.Errorf("again %d: %v; want stored", i, got)
			}
			continue
		}
		if !errors.Is(got, want.is) || got.Error() != want.msg {
			t.Errorf("again %d: err %v; want %q (wrapping %v)", i, got, want.msg, want.is)
		}
	}
	if want := `tasks: enqueue "compat:unique": an equal task (same type, queue "default" and payload) holds the uniqueness lock: task already exists`; dupErr.Error() != want {
		t.Errorf("Enqueue duplicate: %q; want %q", dupErr, want)
	}

	// A real asynq server processes the tasks Enqueue and EnqueueMany
	// stored that are due, with their IDs, payloads and headers.
	type seen struct {
		id, typ, payload, traceparent, tenant string
	}
	var (
		mu  sync.Mutex
		got = map[string]seen{}
	)
	server := asynq.NewServer(asynq.RedisClientOpt{Addr: srv.Addr()}, asynq.Config{
		Concurrency: 4, Queues: map[string]int{"default": 1, "critical": 1, "low": 1},
		TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	if err := server.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		mu.Lock()
		got[id] = seen{id, task.Type(), string(task.Payload()), task.Headers()["traceparent"], task.Headers()["x-tenant"]}
		mu.Unlock()
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Shutdown)
	want := map[string]seen{}
	for i, bc := range bulk {
		if bc.opts.ProcessIn > 0 || !bc.opts.ProcessAt.IsZero() && bc.opts.ProcessAt.After(time.Now()) {
			continue
		}
		for _, info := range []*tasks.TaskInfo{singleInfo[i], bulkRes[i].Info} {
			want[info.ID] = seen{info.ID, info.Type, string(info.Payload), info.Headers["traceparent"], bc.opts.Headers["x-tenant"]}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := 0
		for id := range want {
			if _, ok := got[id]; ok {
				n++
			}
		}
		mu.Unlock()
		if n == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("asynq processed %d of the %d due tasks tuskq stored", n, len(want))
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, w := range want {
		if got[id] != w {
			t.Errorf("processed %+v; want %+v", got[id], w)
		}
	}
}

// wantUniqueKey is asynq's uniqueness lock key of a task.
func wantUniqueKey(info *tasks.TaskInfo) string {
	key := "asynq:{" + info.Queue + "}:unique:" + info.Type + ":"
	if info.Payload == nil {
		return key
	}
	sum := md5.Sum(info.Payload)
	return key + hex.EncodeToString(sum[:])
}

// compareInfo reports the fields of b that differ from a, apart from the
// ID, the type and payload (the cases differ there, to keep their unique
// locks apart), the trace headers, and NextProcessAt within tolerance.
func compareInfo(t *testing.T, name string, a, b *asynq.TaskInfo, tolerance time.Duration) {
	t.Helper()
	strip := func(h map[string]string) map[string]string {
		h = maps.Clone(h)
		delete(h, "traceparent")
		delete(h, "tracestate")
		return h
	}
	if a.Queue != b.Queue || a.State != b.State ||
		a.MaxRetry != b.MaxRetry || a.Retried != b.Retried || a.LastErr != b.LastErr ||
		a.Timeout != b.Timeout || !a.Deadline.Equal(b.Deadline) || a.Group != b.Group ||
		a.Retention != b.Retention || !a.CompletedAt.Equal(b.CompletedAt) || a.IsOrphaned != b.IsOrphaned ||
		!maps.Equal(strip(a.Headers), strip(b.Headers)) || len(a.Result) != len(b.Result) {
		t.Errorf("%s: TaskInfo differs:\n asynq %+v\n  bulk %+v", name, *a, *b)
	}
	if _, ok := b.Headers["traceparent"]; !ok {
		t.Errorf("%s: no traceparent in %v", name, b.Headers)
	}
	if d := a.NextProcessAt.Sub(b.NextProcessAt); d < -tolerance || d > tolerance {
		t.Errorf("%s: NextProcessAt %s; asynq's %s", name, b.NextProcessAt, a.NextProcessAt)
	}
}

func sortedKeys(m map[string]string) []string {
	ks := slices.Collect(maps.Keys(m))
	sort.Strings(ks)
	return ks
}

// TestEnqueueManyReloadsScripts checks the first bulk enqueue after Redis
// lost its script cache: EVALSHA fails with NOSCRIPT, the tasks are sent
// again with EVAL, and each is stored once.
func TestEnqueueManyReloadsScripts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	reqs := make([]tasks.Request, 300)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "reload:x", Payload: []byte(fmt.Sprint(i))}
		if i%3 == 0 {
			reqs[i].Options.UniqueTTL = time.Minute
		}
		if i%5 == 0 {
			reqs[i].Options.ProcessIn = time.Hour
		}
	}
	for round := range 2 {
		if round == 1 {
			// Drop the cached scripts and enqueue fresh tasks.
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			_ = rdb.Close()
			for i := range reqs {
				reqs[i].Payload = []byte(fmt.Sprint("again-", i))
			}
		}
		for i, r := range c.EnqueueMany(ctx, reqs, 2) {
			if r.Err != nil {
				t.Fatalf("round %d, task %d: %v", round, i, r.Err)
			}
		}
	}
	qi, err := c.Inspector().GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Pending != 2*240 || qi.Scheduled != 2*60 {
		t.Fatalf("pending %d, scheduled %d; want %d and %d", qi.Pending, qi.Scheduled, 2*240, 2*60)
	}
}

// TestEnqueueManyIsolatesAPoisonTask sends a batch holding a payload
// larger than Redis accepts: Redis refuses it and closes the connection,
// losing the replies of the whole pipeline, including those of tasks it
// had stored. The results must still be exact: the big task fails, every
// other task is stored once and reported stored, a taken ID is still a
// conflict and a held uniqueness lock a duplicate.
func TestEnqueueManyIsolatesAPoisonTask(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t, redistest.WithArgs("--proto-max-bulk-len", "1mb"))
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Enqueue(ctx, "poison:x", []byte("taken"), &tasks.EnqueueOptions{TaskID: "taken"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, "poison:u", []byte("held"), &tasks.EnqueueOptions{UniqueTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 2<<20)
	reqs := []tasks.Request{
		{Type: "poison:x", Payload: []byte("a")},
		{Type: "poison:x", Payload: []byte("b"), Options: tasks.EnqueueOptions{TaskID: "taken"}},
		{Type: "poison:u", Payload: []byte("held"), Options: tasks.EnqueueOptions{UniqueTTL: time.Hour}},
		{Type: "poison:x", Payload: []byte("own-id"), Options: tasks.EnqueueOptions{TaskID: "own-id"}},
		{Type: "poison:u", Payload: []byte("fresh"), Options: tasks.EnqueueOptions{UniqueTTL: time.Hour}},
		{Type: "poison:x", Payload: big},
		{Type: "poison:x", Payload: []byte("c")},
	}
	res := c.EnqueueMany(ctx, reqs, 1)
	for i, want := range []error{nil, asynq.ErrTaskIDConflict, asynq.ErrDuplicateTask, nil, nil, errRefused, nil} {
		got := res[i].Err
		switch {
		case want == nil:
			if got != nil {
				t.Errorf("task %d: %v; want stored", i, got)
			}
		case errors.Is(want, errRefused):
			if got == nil || errors.Is(got, asynq.ErrTaskIDConflict) || errors.Is(got, asynq.ErrDuplicateTask) {
				t.Errorf("task %d: %v; want Redis's refusal", i, got)
			}
		case !errors.Is(got, want):
			t.Errorf("task %d: %v; want %v", i, got, want)
		}
	}
	infos, err := c.Inspector().ListPendingTasks("default", asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, info := range infos {
		got = append(got, string(info.Payload))
	}
	sort.Strings(got)
	if want := []string{"a", "c", "fresh", "held", "own-id", "taken"}; !slices.Equal(got, want) {
		t.Errorf("pending payloads %q; want each stored task once: %q", got, want)
	}
}

// errRefused stands for "Redis refused it" in a table of expected errors.
var errRefused = errors.New("refused by Redis")
