package telemetry_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/telemetry"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

// point is one received data point of a sum, with its metric, service and
// labels.
type point struct {
	service, metric string
	labels          map[string]string
	value           float64
	monotonic       bool
}

// metricsReceiver is an OTLP/gRPC metrics receiver: the MetricsService of
// the OpenTelemetry protocol, keeping every sum point it is sent and the
// x-api-key header of each export.
type metricsReceiver struct {
	collectormetrics.UnimplementedMetricsServiceServer
	addr string

	mu      sync.Mutex
	exports int
	keys    []string
	points  []point
}

// startMetricsReceiver serves the OTLP MetricsService on a loopback port
// until the test ends.
func startMetricsReceiver(t *testing.T) *metricsReceiver {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &metricsReceiver{addr: ln.Addr().String()}
	srv := grpc.NewServer()
	collectormetrics.RegisterMetricsServiceServer(srv, r)
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

// Export implements the OTLP MetricsService.
func (r *metricsReceiver) Export(ctx context.Context, req *collectormetrics.ExportMetricsServiceRequest) (*collectormetrics.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exports++
	r.keys = append(r.keys, md.Get("x-api-key")...)
	for _, rm := range req.GetResourceMetrics() {
		service := attr(rm.GetResource().GetAttributes(), "service.name")
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				sum, ok := m.GetData().(*metricspb.Metric_Sum)
				if !ok {
					continue
				}
				for _, dp := range sum.Sum.GetDataPoints() {
					labels := map[string]string{}
					for _, kv := range dp.GetAttributes() {
						labels[kv.GetKey()] = attr(dp.GetAttributes(), kv.GetKey())
					}
					r.points = append(r.points, point{
						service: service, metric: m.GetName(), labels: labels,
						value: dp.GetAsDouble(), monotonic: sum.Sum.GetIsMonotonic(),
					})
				}
			}
		}
	}
	return &collectormetrics.ExportMetricsServiceResponse{}, nil
}

// find returns the points of metric received so far whose labels hold
// every pair of want.
func (r *metricsReceiver) find(metric string, want map[string]string) []point {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []point
	for _, p := range r.points {
		if p.metric != metric {
			continue
		}
		match := true
		for k, v := range want {
			match = match && p.labels[k] == v
		}
		if match {
			out = append(out, p)
		}
	}
	return out
}

func (r *metricsReceiver) counts() (exports int, keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exports, slices.Clone(r.keys)
}

// metricsConfig is the otel section of a binary sending to rcv.
func metricsConfig(t *testing.T, rcv *metricsReceiver, metrics bool) config.OTelConfig {
	t.Helper()
	cfg := config.Default()
	cfg.OTel.Enabled = true
	cfg.OTel.Protocol = config.ProtocolGRPC
	cfg.OTel.Endpoint = "http://" + rcv.addr
	cfg.OTel.Headers = "x-api-key=metrics-key"
	cfg.OTel.Metrics = metrics
	cfg.OTel.MetricsInterval = time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg.OTel
}

// TestMetricsOverOTLP: with otel.metrics, a counter of the registry handed
// to ExportMetrics reaches the collector with its labels, as a monotonic
// sum, with the service name and the export headers of the spans: first
// by the periodic export, then with its last value by the flush of
// Shutdown.
func TestMetricsOverOTLP(t *testing.T) {
	t.Parallel()
	rcv := startMetricsReceiver(t)
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{Config: metricsConfig(t, rcv, true), Service: telemetry.ServiceWorker})
	if err != nil {
		t.Fatal(err)
	}
	if !tel.MetricsEnabled() {
		t.Fatal("MetricsEnabled() = false; want true")
	}
	reg := prometheus.NewRegistry()
	processed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tuskq_tasks_processed_total", Help: "Task attempts finished.",
	}, []string{"task_type", "queue"})
	reg.MustRegister(processed)
	tel.ExportMetrics(reg)
	processed.WithLabelValues("email:send", "critical").Add(3)

	want := map[string]string{"task_type": "email:send", "queue": "critical"}
	testutil.Poll(t, waitFor, "a periodic export of tuskq_tasks_processed_total", func() bool {
		return len(rcv.find("tuskq_tasks_processed_total", want)) > 0
	})
	p := rcv.find("tuskq_tasks_processed_total", want)[0]
	if p.value != 3 || !p.monotonic || p.service != telemetry.ServiceWorker || len(p.labels) != 2 {
		t.Errorf("point = %+v; want 3, monotonic, service %s, labels task_type and queue only", p, telemetry.ServiceWorker)
	}

	processed.WithLabelValues("email:send", "critical").Add(2)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), waitFor)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	got := rcv.find("tuskq_tasks_processed_total", want)
	if last := got[len(got)-1]; last.value != 5 {
		t.Errorf("value after Shutdown = %v; want 5 (the flush exports the last value)", last.value)
	}
	_, keys := rcv.counts()
	if len(keys) == 0 || slices.ContainsFunc(keys, func(k string) bool { return k != "metrics-key" }) {
		t.Errorf("x-api-key headers = %q; want metrics-key on every export", keys)
	}
}

// TestMetricsOffSendsNothing: with tracing on but otel.metrics off, no
// meter provider is built: a registry handed to ExportMetrics is never
// exported, not even at Shutdown.
func TestMetricsOffSendsNothing(t *testing.T) {
	t.Parallel()
	rcv := startMetricsReceiver(t)
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{Config: metricsConfig(t, rcv, false), Service: telemetry.ServiceAPI})
	if err != nil {
		t.Fatal(err)
	}
	if tel.MetricsEnabled() {
		t.Error("MetricsEnabled() = true; want false")
	}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "tuskq_test_total", Help: "A counter."})
	reg.MustRegister(c)
	c.Inc()
	tel.ExportMetrics(reg)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), waitFor)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if n, _ := rcv.counts(); n != 0 {
		t.Errorf("exports = %d; want 0 with otel.metrics off", n)
	}
	// Tracing off: a nil Telemetry takes registries and does nothing.
	var off *telemetry.Telemetry
	off.ExportMetrics(reg)
	if off.MetricsEnabled() {
		t.Error("nil MetricsEnabled() = true")
	}
}

func TestMetricsPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "/v1/metrics", "/": "/v1/metrics", "/v1/traces": "/v1/metrics",
		"/otlp/v1/traces": "/otlp/v1/metrics", "/otlp": "/otlp/v1/metrics", "/otlp/": "/otlp/v1/metrics",
	} {
		if got := telemetry.MetricsPath(in); got != want {
			t.Errorf("MetricsPath(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestWorkerMetricsOverOTLP: the worker's own instruments, in the registry
// internal/workercmd hands to ExportMetrics, reach the collector: after a
// task of type metrics:probe succeeds on queue default,
// tuskq_tasks_processed_total{task_type="metrics:probe",queue="default"}
// arrives with the value 1.
func TestWorkerMetricsOverOTLP(t *testing.T) {
	t.Parallel()
	rcv := startMetricsReceiver(t)
	srv := redistest.Start(t)
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	cfg.Worker.Listen = ""
	cfg.Worker.Concurrency = 1
	cfg.OTel = metricsConfig(t, rcv, true)
	ctx := t.Context()

	tel, err := telemetry.Setup(ctx, telemetry.Options{Config: cfg.OTel, Service: telemetry.ServiceWorker})
	if err != nil {
		t.Fatal(err)
	}
	reg := tasks.NewRegistry()
	if err := reg.RegisterFunc("metrics:probe", func(context.Context, *asynq.Task) error { return nil }); err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	w, err := worker.New(worker.Options{Config: cfg, Registry: reg, Registerer: metrics, TracerProvider: tel.TracerProvider()})
	if err != nil {
		t.Fatal(err)
	}
	tel.ExportMetrics(metrics)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	stopped := false
	stopWorker := func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}
	t.Cleanup(stopWorker)

	client, err := tasks.NewClient(asynq.RedisClientOpt{Addr: srv.Addr()}, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Enqueue(ctx, "metrics:probe", []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"task_type": "metrics:probe", "queue": "default"}
	testutil.Poll(t, waitFor, "tuskq_tasks_processed_total of the task over OTLP", func() bool {
		got := rcv.find("tuskq_tasks_processed_total", want)
		return len(got) > 0 && got[len(got)-1].value == 1
	})
	stopWorker()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), waitFor)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if p := rcv.find("tuskq_tasks_processed_total", want); p[len(p)-1].service != telemetry.ServiceWorker {
		t.Errorf("service = %q; want %s", p[len(p)-1].service, telemetry.ServiceWorker)
	}
}
