package enqueuecli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/internal/enqueuecli"
)

// TestTelemetrySetUp: enqueue and enqueue serve build their tracing from
// otel.* and the OTEL_* variables of their environment, and refuse a bad
// one with one line and exit status 2.
func TestTelemetrySetUp(t *testing.T) {
	t.Parallel()
	env := []string{"TUSKQ_REDIS_ADDR=127.0.0.1:1", "TUSKQ_OTEL_ENABLED=true", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}
	const detail = "telemetry: otel.protocol (or OTEL_EXPORTER_OTLP_PROTOCOL) \"http/json\" is not valid; expected grpc or http\n"
	var stdout, stderr bytes.Buffer
	code := enqueuecli.Run(t.Context(), []string{"demo:echo", "{}"}, enqueuecli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Environ: env})
	if code != 2 || stderr.String() != "enqueue: "+detail {
		t.Errorf("enqueue: exit %d, stderr %q; want 2 and %q", code, stderr.String(), "enqueue: "+detail)
	}
	stderr.Reset()
	code = enqueuecli.Run(t.Context(), []string{"serve"}, enqueuecli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Environ: env})
	if code != 2 || stderr.String() != "enqueue serve: "+detail {
		t.Errorf("enqueue serve: exit %d, stderr %q; want 2 and %q", code, stderr.String(), "enqueue serve: "+detail)
	}
}
