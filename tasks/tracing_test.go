package tasks_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// TestProducerSpans: with a TracerProvider, every task of Enqueue and
// EnqueueMany gets a PRODUCER span of its own, child of the caller's span,
// whose context is the task's traceparent; a refused enqueue ends its span
// with an error status; no span records the payload.
func TestProducerSpans(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{TracerProvider: tp, EnqueueTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, parent := tp.Tracer("test").Start(t.Context(), "caller")
	defer parent.End()

	reqs := []tasks.Request{
		{Type: "a:x", Payload: []byte("secret-1"), Options: tasks.EnqueueOptions{Queue: "low", TaskID: "t1"}},
		{Type: "a:y", Payload: []byte("secret-22"), Options: tasks.EnqueueOptions{Queue: "critical", TaskID: "t2"}},
		{Type: "a:z", Payload: []byte("secret-333"), Options: tasks.EnqueueOptions{TaskID: "t3"}},
	}
	results := c.EnqueueMany(ctx, reqs, 2)
	info, err := c.Enqueue(ctx, "a:x", []byte("secret-4"), &tasks.EnqueueOptions{TaskID: "t1", Queue: "low"})
	if err == nil {
		t.Fatalf("Enqueue of a taken ID = %v; want an error", info)
	}

	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.SpanKind() != trace.SpanKindProducer {
			continue
		}
		id := ""
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "secret") {
				t.Errorf("span %s attribute %s holds the payload", s.Name(), kv.Key)
			}
			if kv.Key == "messaging.message.id" {
				id = kv.Value.AsString()
			}
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s (%s) has parent %s; want the caller's", s.Name(), id, s.Parent().SpanID())
		}
		if s.Status().Code == codes.Error {
			id += "/error"
		}
		byID[id] = s
	}
	if len(byID) != 4 {
		t.Fatalf("PRODUCER spans by task ID: %v; want t1, t2, t3 and t1/error", byID)
	}
	for i, want := range []string{"send low", "send critical", "send default"} {
		s := byID[reqs[i].Options.TaskID]
		if s == nil || s.Name() != want {
			t.Errorf("task %d span = %v; want %q", i, s, want)
			continue
		}
		if results[i].Err != nil {
			t.Fatal(results[i].Err)
		}
		ti, err := c.Inspector().GetTaskInfo(reqs[i].Options.Queue+map[bool]string{true: "default"}[reqs[i].Options.Queue == ""], reqs[i].Options.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"; ti.Headers[tasks.HeaderTraceparent] != want {
			t.Errorf("task %d traceparent = %q; want its PRODUCER span's %q", i, ti.Headers[tasks.HeaderTraceparent], want)
		}
		if results[i].Info.TraceID != s.SpanContext().TraceID().String() {
			t.Errorf("task %d trace %s; want the span's %s", i, results[i].Info.TraceID, s.SpanContext().TraceID())
		}
	}
	bad := byID["t1/error"]
	if bad == nil || bad.Status().Description == "" {
		t.Fatalf("refused enqueue span = %v; want an error status", bad)
	}
	for _, kv := range bad.Attributes() {
		if kv.Key == "error.type" && kv.Value.AsString() != "task_id_conflict" {
			t.Errorf("error.type = %s; want task_id_conflict", kv.Value.AsString())
		}
	}
}
