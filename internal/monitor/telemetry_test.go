package monitor

import "testing"

// TestMainSetsUpTelemetry: the monitor builds its tracing from otel.* and
// the OTEL_* variables of its environment, and refuses a bad one.
func TestMainSetsUpTelemetry(t *testing.T) {
	t.Parallel()
	code, _, stderr := runMain(nil, "TUSKQ_OTEL_ENABLED=true", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json")
	want := "monitor: telemetry: otel.protocol (or OTEL_EXPORTER_OTLP_PROTOCOL) \"http/json\" is not valid; expected grpc or http\n"
	if code != 2 || stderr != want {
		t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}
