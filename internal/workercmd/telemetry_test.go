package workercmd

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/telemetry"
)

// TestMainSetsUpTelemetry: the worker builds its tracing from otel.* and
// the OTEL_* variables of its environment before it starts, and refuses a
// bad one with one line.
func TestMainSetsUpTelemetry(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), Env{
		Environ: []string{"TUSKQ_REDIS_ADDR=127.0.0.1:1", "TUSKQ_OTEL_ENABLED=true", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"},
		Stdout:  &stdout, Stderr: &stderr,
	})
	want := "worker: telemetry: otel.protocol (or OTEL_EXPORTER_OTLP_PROTOCOL) \"http/json\" is not valid; expected grpc or http\n"
	if code != 2 || stderr.String() != want {
		t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), want)
	}
}

// metricsSink is an OTLP/gRPC MetricsService that keeps the names of the
// metrics it is sent.
type metricsSink struct {
	collectormetrics.UnimplementedMetricsServiceServer
	mu    sync.Mutex
	names map[string]bool
}

func (s *metricsSink) Export(_ context.Context, req *collectormetrics.ExportMetricsServiceRequest) (*collectormetrics.ExportMetricsServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				s.names[m.GetName()] = true
			}
		}
	}
	return &collectormetrics.ExportMetricsServiceResponse{}, nil
}

// TestBuildExportsWorkerRegistry: with otel.metrics, the registry the
// worker serves on /metrics is the one exported over OTLP: the flush at
// shutdown sends the Go and process collectors registered there (the
// tuskq_* vectors have no series before a task runs; the telemetry
// package shows them arrive once one did).
func TestBuildExportsWorkerRegistry(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &metricsSink{names: map[string]bool{}}
	srv := grpc.NewServer()
	collectormetrics.RegisterMetricsServiceServer(srv, sink)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})

	cfg := config.Default()
	cfg.Redis.Addr = "127.0.0.1:1"
	cfg.Worker.Listen = ""
	cfg.OTel.Enabled = true
	cfg.OTel.Protocol = config.ProtocolGRPC
	cfg.OTel.Endpoint = "http://" + ln.Addr().String()
	cfg.OTel.Metrics = true
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{Config: cfg.OTel, Service: telemetry.ServiceWorker})
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	_, _, ps, err := build(t.Context(), cfg, Env{Stdout: io.Discard, Stderr: &stderr}, tel)
	if err != nil {
		t.Fatal(err)
	}
	if ps != nil {
		ps.Close(t.Context())
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), time.Minute)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if !sink.names[name] {
			t.Errorf("%s not exported over OTLP; got %d metrics", name, len(sink.names))
		}
	}
}
