package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

func newClient(t *testing.T, routes ...tasks.Route) (*tasks.Client, *asynq.Inspector) {
	t.Helper()
	srv := redistest.Start(t)
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{Routes: routes})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, c.Inspector()
}

func intp(n int) *int { return &n }

func TestEnqueueAppliesRoutes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, insp := newClient(t,
		tasks.Route{Pattern: "email:*", Queue: "low", MaxRetry: intp(3), Timeout: time.Minute},
		tasks.Route{Pattern: "email:urgent:*", Queue: "critical"},
		tasks.Route{Pattern: "email:send", Queue: "default", MaxRetry: intp(7)},
	)
	tests := []struct {
		typ       string
		opts      *tasks.EnqueueOptions
		wantQueue string
		wantRetry int
		wantTO    time.Duration
	}{
		{"email:digest", nil, "low", 3, time.Minute},
		{"email:urgent:page", nil, "critical", 25, 30 * time.Minute},
		{"email:send", nil, "default", 7, 30 * time.Minute},
		{"email:send", &tasks.EnqueueOptions{Queue: "critical", MaxRetry: intp(0), Timeout: time.Second}, "critical", 0, time.Second},
		{"sms:send", nil, "default", 25, 30 * time.Minute},
	}
	for i, tt := range tests {
		info, err := c.Enqueue(ctx, tt.typ, []byte(fmt.Sprint(i)), tt.opts)
		if err != nil {
			t.Fatalf("%s: %v", tt.typ, err)
		}
		got, err := insp.GetTaskInfo(info.Queue, info.ID)
		if err != nil {
			t.Fatalf("%s: GetTaskInfo: %v", tt.typ, err)
		}
		if got.Queue != tt.wantQueue || got.MaxRetry != tt.wantRetry || got.Timeout != tt.wantTO {
			t.Errorf("%d %s: queue=%s max_retry=%d timeout=%s; want %s %d %s",
				i, tt.typ, got.Queue, got.MaxRetry, got.Timeout, tt.wantQueue, tt.wantRetry, tt.wantTO)
		}
	}
}

func TestEnqueueCarriesTrace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, insp := newClient(t)

	// A producer's span context is continued.
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sctx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	info, err := c.Enqueue(sctx, "a:b", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.TraceID != tid.String() {
		t.Fatalf("TraceID = %s; want %s", info.TraceID, tid)
	}
	stored, err := insp.GetTaskInfo(info.Queue, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; stored.Headers[tasks.HeaderTraceparent] != want {
		t.Fatalf("traceparent = %q; want %q", stored.Headers[tasks.HeaderTraceparent], want)
	}

	// Without a trace, each task starts its own.
	a, err := c.Enqueue(ctx, "a:b", nil, &tasks.EnqueueOptions{Headers: map[string]string{"x-tenant": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Enqueue(ctx, "a:b", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.TraceID) != 32 || a.TraceID == b.TraceID || a.TraceID == "00000000000000000000000000000000" {
		t.Fatalf("new trace IDs %q and %q; want two different valid IDs", a.TraceID, b.TraceID)
	}
	stored, err = insp.GetTaskInfo(a.Queue, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := tasks.TraceIDFromHeaders(stored.Headers); got != a.TraceID {
		t.Fatalf("stored trace %q; returned %q", got, a.TraceID)
	}
	if stored.Headers["x-tenant"] != "7" {
		t.Fatalf("custom header lost: %v", stored.Headers)
	}
}

func TestEnqueueOptionErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, _ := newClient(t)
	tests := []struct {
		name string
		typ  string
		opts *tasks.EnqueueOptions
		want string
	}{
		{"BothTimes", "a:b", &tasks.EnqueueOptions{ProcessIn: time.Second, ProcessAt: time.Now()},
			`tasks: enqueue "a:b": bad enqueue options: ProcessAt: delay and at cannot be used together; pick one`},
		{"NegativeRetry", "a:b", &tasks.EnqueueOptions{MaxRetry: intp(-1)},
			`tasks: enqueue "a:b": bad enqueue options: MaxRetry: -1 is negative; expected a whole number from 0 to 2147483647`},
		{"BadType", "a b", nil,
			"tasks: enqueue: bad enqueue options\ninvalid task type: \"a b\" contains ' '; use letters, digits and punctuation other than '*'"},
	}
	for _, tt := range tests {
		_, err := c.Enqueue(ctx, tt.typ, nil, tt.opts)
		if !errors.Is(err, tasks.ErrBadOptions) || err.Error() != tt.want {
			t.Errorf("%s: err\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
	if _, err := c.Enqueue(ctx, "a:b", nil, &tasks.EnqueueOptions{TaskID: "same"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Enqueue(ctx, "a:b", nil, &tasks.EnqueueOptions{TaskID: "same"})
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("second enqueue with the same ID: %v; want ErrTaskIDConflict", err)
	}
}

func TestEnqueueManyPerTaskResults(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, insp := newClient(t)
	const n = 500
	reqs := make([]tasks.Request, n)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "bulk:item", Payload: []byte(fmt.Sprint(i)), Options: tasks.EnqueueOptions{TaskID: fmt.Sprintf("t-%d", i)}}
	}
	reqs[10].Type = "bad type"       // invalid
	reqs[20].Options.TaskID = "t-21" // conflicts with request 21 (one of the two fails)
	reqs[30].Options.ProcessIn = -1  // invalid
	res := c.EnqueueMany(ctx, reqs, 8)
	if len(res) != n {
		t.Fatalf("%d results; want %d", len(res), n)
	}
	ok := 0
	for i, r := range res {
		if (r.Err == nil) == (r.Info == nil) {
			t.Fatalf("result %d: info %v and err %v", i, r.Info, r.Err)
		}
		if r.Err == nil {
			ok++
			if r.Info.Payload == nil || string(r.Info.Payload) != fmt.Sprint(i) {
				t.Fatalf("result %d carries payload %q", i, r.Info.Payload)
			}
		}
	}
	if !errors.Is(res[10].Err, tasks.ErrBadOptions) || !errors.Is(res[30].Err, tasks.ErrBadOptions) {
		t.Fatalf("bad requests: %v, %v", res[10].Err, res[30].Err)
	}
	conflicts := 0
	for _, i := range []int{20, 21} {
		if errors.Is(res[i].Err, asynq.ErrTaskIDConflict) {
			conflicts++
		}
	}
	if conflicts != 1 || ok != n-3 {
		t.Fatalf("ok=%d conflicts=%d; want %d and 1", ok, conflicts, n-3)
	}
	qi, err := insp.GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	if qi.Pending != ok {
		t.Fatalf("pending = %d; want %d (exactly the successful results)", qi.Pending, ok)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for i, r := range c.EnqueueMany(cctx, reqs[:5], 2) {
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("cancelled bulk result %d: %v", i, r.Err)
		}
	}
}

func TestEnqueueKeepsTraceparentHeaderWithoutSpan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, insp := newClient(t, tasks.Route{Pattern: "*", Queue: "low"})
	const tp = "00-11111111111111111111111111111111-2222222222222222-01"
	info, err := c.Enqueue(ctx, "a:b", nil, &tasks.EnqueueOptions{Headers: map[string]string{"traceparent": tp}})
	if err != nil {
		t.Fatal(err)
	}
	if info.TraceID != "11111111111111111111111111111111" || info.Queue != "low" {
		t.Fatalf("trace %s queue %s; want the header's trace and the catch-all route's queue", info.TraceID, info.Queue)
	}
	stored, err := insp.GetTaskInfo(info.Queue, info.ID)
	if err != nil || stored.Headers["traceparent"] != tp {
		t.Fatalf("stored traceparent %q, %v; want %q", stored.Headers["traceparent"], err, tp)
	}
	// A span in ctx wins over the header.
	tid, _ := trace.TraceIDFromHex("33333333333333333333333333333333")
	sid, _ := trace.SpanIDFromHex("4444444444444444")
	sctx := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	info, err = c.Enqueue(sctx, "a:b", nil, &tasks.EnqueueOptions{Headers: map[string]string{"traceparent": tp}})
	if err != nil || info.TraceID != tid.String() {
		t.Fatalf("with a span: trace %v, %v; want %s", info, err, tid)
	}
}
