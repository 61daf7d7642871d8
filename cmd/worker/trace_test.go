package main_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/tasks"
)

// TestTraceTravelsFromProducerToWebhook follows one trace ID from a
// producer's OpenTelemetry span context, through the task's headers, to the
// worker process's log line for the task and to the traceparent header the
// http:request processor sends to the webhook.
func TestTraceTravelsFromProducerToWebhook(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		received []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		received = append(received, r.Header.Get("traceparent"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	hookURL, _ := url.Parse(hook.URL)

	rs := startRedis(t)
	client := newClient(t, rs.Addr())
	w := startWorker(t, rs.Addr(), "--set", "worker.http_allow_hosts="+hookURL.Host)
	w.addr(t)

	tid, _ := trace.TraceIDFromHex("5b8efff798038103d269b633813fc60c")
	sid, _ := trace.SpanIDFromHex("eee19b7ec3c1b174")
	ctx := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))
	payload := []byte(`{"method":"POST","url":"` + hook.URL + `/hook","body":{"order":42}}`)
	info, err := client.Enqueue(ctx, "http:request", payload, &tasks.EnqueueOptions{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if info.TraceID != tid.String() {
		t.Fatalf("enqueue returned trace %s; want the producer's %s", info.TraceID, tid)
	}

	done := w.line(t, "task done", info.ID)
	for k, want := range map[string]any{
		"trace_id": tid.String(), "span_id": sid.String(), "task_type": "http:request",
		"queue": "default", "retry": float64(0), "outcome": "success",
	} {
		if done[k] != want {
			t.Errorf("worker log line %s = %v; want %v (line %v)", k, done[k], want, done)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01"
	if len(received) != 1 || received[0] != want {
		t.Fatalf("webhook received traceparent %q; want exactly one request with %q", received, want)
	}
}
