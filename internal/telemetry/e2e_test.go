package telemetry_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/telemetry"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/processors"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// waitFor bounds every wait of these tests (a loaded 2-core machine).
const waitFor = 60 * time.Second

// span is one received span with its service.
type span struct {
	service string
	*tracepb.Span
}

// receiver is an OTLP/gRPC trace receiver: the TraceService of the
// OpenTelemetry protocol, keeping every span it is sent.
type receiver struct {
	collectortrace.UnimplementedTraceServiceServer
	addr string

	mu    sync.Mutex
	spans []span
}

// startReceiver serves the OTLP TraceService on a loopback port until the
// test ends.
func startReceiver(t *testing.T) *receiver {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{addr: ln.Addr().String()}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return r
}

// Export implements the OTLP TraceService.
func (r *receiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := attr(rs.GetResource().GetAttributes(), "service.name")
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, span{service: service, Span: s})
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// received returns a copy of the spans received so far.
func (r *receiver) received() []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// attr returns the string form of attribute key in kvs, or "".
func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() != key {
			continue
		}
		v := kv.GetValue()
		if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
			return s.StringValue
		}
		if i, ok := v.GetValue().(*commonpb.AnyValue_IntValue); ok {
			return fmt.Sprint(i.IntValue)
		}
		return v.String()
	}
	return ""
}

// webhook answers 503 to its first call and 200 to the next ones, and
// keeps the traceparent of each call.
type webhook struct {
	calls        atomic.Int32
	mu           sync.Mutex
	traceparents []string
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	w.traceparents = append(w.traceparents, r.Header.Get("traceparent"))
	w.mu.Unlock()
	if w.calls.Add(1) == 1 {
		http.Error(rw, "try again", http.StatusServiceUnavailable)
		return
	}
	_, _ = rw.Write([]byte("ok"))
}

// TestTraceEndToEnd sends an HTTP API request that enqueues an
// http:request task; the worker's first attempt fails (503) and the retry
// succeeds. The API and the worker each export their spans over OTLP/gRPC
// to a receiver started here, set up from the otel config keys as the
// binaries do. One trace must hold: the caller's span → the API's SERVER
// span → the PRODUCER span of the enqueue → two CONSUMER spans (one per
// attempt, each linked to the producer) → a CLIENT span per webhook call,
// whose context is the traceparent the webhook received.
func TestTraceEndToEnd(t *testing.T) {
	t.Parallel()
	rcv := startReceiver(t)
	srv := redistest.Start(t)
	hook := &webhook{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)

	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	cfg.Enqueue.Timeout = 30 * time.Second
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Worker.Listen = ""
	cfg.Worker.Concurrency = 2
	cfg.Worker.DelayedTaskCheckInterval = 20 * time.Millisecond
	cfg.Worker.HTTPAllowHosts = []string{strings.TrimPrefix(hookSrv.URL, "http://")}
	cfg.OTel.Enabled = true
	cfg.OTel.Protocol = config.ProtocolGRPC
	cfg.OTel.Endpoint = "http://" + rcv.addr
	cfg.OTel.Headers = "x-api-key=never-logged"
	cfg.OTel.ResourceAttributes = "deployment.environment.name=test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// The worker, as internal/workercmd builds it.
	workerTel, err := telemetry.Setup(ctx, telemetry.Options{Config: cfg.OTel, Service: telemetry.ServiceWorker})
	if err != nil {
		t.Fatal(err)
	}
	reg := tasks.NewRegistry()
	if err := processors.RegisterBuiltins(reg, processors.Options{
		HTTPAllowHosts: cfg.Worker.HTTPAllowHosts, TracerProvider: workerTel.TracerProvider(),
	}); err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{
		Config: cfg, Registry: reg, TracerProvider: workerTel.TracerProvider(),
		RetryDelay: func(int, error, *asynq.Task) time.Duration { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Run(wctx) }()
	t.Cleanup(func() {
		stopWorker()
		if err := <-workerDone; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

	// The API, as "enqueue serve" builds it.
	apiTel, err := telemetry.Setup(ctx, telemetry.Options{Config: cfg.OTel, Service: telemetry.ServiceAPI})
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAPI := context.WithCancel(ctx)
	listening := make(chan net.Addr, 1)
	apiDone := make(chan error, 1)
	go func() {
		apiDone <- httpapi.Run(actx, httpapi.Options{Config: cfg, Telemetry: apiTel, OnListen: func(a net.Addr) { listening <- a }})
	}()
	t.Cleanup(func() {
		stopAPI()
		if err := <-apiDone; err != nil {
			t.Errorf("API: %v", err)
		}
	})
	var apiAddr net.Addr
	select {
	case apiAddr = <-listening:
	case err := <-apiDone:
		t.Fatalf("API stopped: %v", err)
	case <-time.After(waitFor):
		t.Fatal("API not listening")
	}

	// The caller's trace.
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	body := fmt.Sprintf(`{"type": "http:request", "payload": {"url": %q, "method": "POST", "body": {"secret": "payload-never-exported"}}}`, hookSrv.URL+"/hook?token=query-never-exported")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apiAddr.String()+"/v1/tasks", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/tasks: %s", resp.Status)
	}
	testutil.Poll(t, waitFor, "the webhook called twice", func() bool { return hook.calls.Load() >= 2 })
	// The second attempt's span ends after its webhook call returns.
	testutil.Poll(t, waitFor, "two CONSUMER spans", func() bool {
		if err := workerTel.TracerProvider().(interface {
			ForceFlush(context.Context) error
		}).ForceFlush(ctx); err != nil {
			t.Logf("flush: %v", err)
		}
		return len(kinds(rcv.received(), tracepb.Span_SPAN_KIND_CONSUMER)) >= 2
	})
	stopAPI()
	apiDone <- <-apiDone // for the cleanup
	apiTel.Close(ctx, nil)
	workerTel.Close(ctx, nil)

	spans := rcv.received()
	for _, s := range spans {
		if hex.EncodeToString(s.GetTraceId()) != callerTrace {
			t.Errorf("span %q (%s) is in trace %x; want the caller's %s", s.GetName(), s.service, s.GetTraceId(), callerTrace)
		}
		for _, kv := range s.GetAttributes() {
			if v := kv.GetValue().String(); strings.Contains(v, "never-exported") || strings.Contains(v, "never-logged") {
				t.Errorf("span %q attribute %s = %s: a payload, query or header left the process", s.GetName(), kv.GetKey(), v)
			}
		}
	}
	server := one(t, spans, tracepb.Span_SPAN_KIND_SERVER)
	producer := one(t, spans, tracepb.Span_SPAN_KIND_PRODUCER)
	consumers := kinds(spans, tracepb.Span_SPAN_KIND_CONSUMER)
	clients := kinds(spans, tracepb.Span_SPAN_KIND_CLIENT)
	if server == nil || producer == nil || len(consumers) != 2 || len(clients) != 2 {
		t.Fatalf("got %d spans: %s; want 1 server, 1 producer, 2 consumer, 2 client", len(spans), describe(spans))
	}
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v; want %v", what, got, want)
		}
	}
	check("server service", server.service, "tuskq-api")
	check("server name", server.GetName(), "POST /v1/tasks")
	check("server parent", hex.EncodeToString(server.GetParentSpanId()), callerSpan)
	check("producer service", producer.service, "tuskq-api")
	check("producer name", producer.GetName(), "send default")
	check("producer parent", hex.EncodeToString(producer.GetParentSpanId()), hex.EncodeToString(server.GetSpanId()))
	for key, want := range map[string]string{
		"messaging.system": "asynq", "messaging.operation.type": "send", "messaging.destination.name": "default",
		"tuskq.task.type": "http:request", "messaging.message.body.size": fmt.Sprint(len(`{"url":`)) + "+",
	} {
		got := attr(producer.GetAttributes(), key)
		if strings.HasSuffix(want, "+") {
			if got == "" || got == "0" {
				t.Errorf("producer %s = %q; want a size", key, got)
			}
			continue
		}
		check("producer "+key, got, want)
	}
	taskID := attr(producer.GetAttributes(), "messaging.message.id")
	if taskID == "" {
		t.Error("producer span has no messaging.message.id")
	}
	slices.SortFunc(consumers, func(a, b span) int { return int(a.GetStartTimeUnixNano()) - int(b.GetStartTimeUnixNano()) })
	for i, c := range consumers {
		name := fmt.Sprintf("consumer %d", i)
		check(name+" service", c.service, "tuskq-worker")
		check(name+" name", c.GetName(), "process default")
		check(name+" parent", hex.EncodeToString(c.GetParentSpanId()), hex.EncodeToString(producer.GetSpanId()))
		if len(c.GetLinks()) != 1 || hex.EncodeToString(c.GetLinks()[0].GetSpanId()) != hex.EncodeToString(producer.GetSpanId()) {
			t.Errorf("%s links = %v; want one link to the producer span", name, c.GetLinks())
		}
		check(name+" task ID", attr(c.GetAttributes(), "messaging.message.id"), taskID)
		check(name+" retry", attr(c.GetAttributes(), "tuskq.task.retry"), i)
		check(name+" operation", attr(c.GetAttributes(), "messaging.operation.type"), "process")
	}
	check("first attempt outcome", attr(consumers[0].GetAttributes(), "tuskq.task.outcome"), tasks.OutcomeRetry)
	check("first attempt status", consumers[0].GetStatus().GetCode(), tracepb.Status_STATUS_CODE_ERROR)
	check("second attempt outcome", attr(consumers[1].GetAttributes(), "tuskq.task.outcome"), tasks.OutcomeSuccess)
	check("second attempt status", consumers[1].GetStatus().GetCode(), tracepb.Status_STATUS_CODE_UNSET)

	hook.mu.Lock()
	sent := slices.Clone(hook.traceparents)
	hook.mu.Unlock()
	for i, c := range consumers {
		var client *span
		for j := range clients {
			if string(clients[j].GetParentSpanId()) == string(c.GetSpanId()) {
				client = &clients[j]
			}
		}
		if client == nil {
			t.Errorf("no CLIENT span under consumer %d; spans: %s", i, describe(spans))
			continue
		}
		check(fmt.Sprintf("client %d url.full", i), attr(client.GetAttributes(), "url.full"), hookSrv.URL+"/hook")
		want := "00-" + callerTrace + "-" + hex.EncodeToString(client.GetSpanId()) + "-01"
		if !slices.Contains(sent, want) {
			t.Errorf("the webhook received traceparents %v; want one of them to be the CLIENT span's %s", sent, want)
		}
	}
}

// kinds returns the spans of kind k.
func kinds(spans []span, k tracepb.Span_SpanKind) []span {
	var out []span
	for _, s := range spans {
		if s.GetKind() == k {
			out = append(out, s)
		}
	}
	return out
}

// one returns the only span of kind k, failing the test when there is not
// exactly one.
func one(t *testing.T, spans []span, k tracepb.Span_SpanKind) *span {
	t.Helper()
	got := kinds(spans, k)
	if len(got) != 1 {
		t.Errorf("%d spans of kind %s; want 1: %s", len(got), k, describe(spans))
		return nil
	}
	return &got[0]
}

// describe lists spans for a failure message.
func describe(spans []span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "\n  %s %q (%s) span %x parent %x", s.GetKind(), s.GetName(), s.service, s.GetSpanId(), s.GetParentSpanId())
	}
	return b.String()
}
