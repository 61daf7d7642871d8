package telemetry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/telemetry"
)

// TestExportOverHTTP: otel.protocol http sends OTLP/HTTP protobuf to
// /v1/traces of an endpoint given without a path, with otel.headers, and
// Shutdown flushes what is buffered.
func TestExportOverHTTP(t *testing.T) {
	t.Parallel()
	var (
		mu            sync.Mutex
		paths, apiKey []string
		names         []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		paths = append(paths, r.URL.Path)
		apiKey = append(apiKey, r.Header.Get("X-Api-Key"))
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	t.Cleanup(srv.Close)
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{Config: config.OTelConfig{
		Enabled: true, Protocol: config.ProtocolHTTP, Endpoint: srv.URL, Headers: "x-api-key=k%201",
	}, Service: telemetry.ServiceEnqueue})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "one")
	span.End()
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) != 1 || names[0] != "one" || paths[0] != "/v1/traces" || apiKey[0] != "k 1" {
		t.Errorf("received spans %v at %v with x-api-key %q; want [one] at /v1/traces with \"k 1\"", names, paths, apiKey)
	}
}
