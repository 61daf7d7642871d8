package workercmd

import (
	"bytes"
	"testing"
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
