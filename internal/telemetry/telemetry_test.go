package telemetry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/telemetry"
	"github.com/tuskq/tuskq/tasks"
)

func TestSetupOff(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]telemetry.Options{
		"default":           {Config: config.Default().OTel},
		"OTEL_SDK_DISABLED": {Config: config.OTelConfig{Enabled: true}, Environ: []string{"OTEL_SDK_DISABLED=true"}},
	} {
		tel, err := telemetry.Setup(t.Context(), o)
		if err != nil || tel != nil || tel.TracerProvider() != nil || tel.Enabled() {
			t.Errorf("%s: Setup = %v, %v; want nil, nil (no SDK, no provider)", name, tel, err)
		}
		// Every method works on the nil Telemetry.
		if err := tel.Shutdown(t.Context()); err != nil {
			t.Error(err)
		}
		tel.Close(t.Context(), nil)
		if err := tel.InstrumentRedis(nil); err != nil {
			t.Error(err)
		}
	}
}

// recorded sets up tracing with an in-memory exporter and returns it.
func recorded(t *testing.T, c config.OTelConfig, environ ...string) (*telemetry.Telemetry, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	c.Enabled = true
	tel, err := telemetry.Setup(t.Context(), telemetry.Options{Config: c, Service: telemetry.ServiceWorker, Environ: environ, Exporter: exp, Syncer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Close(context.WithoutCancel(t.Context()), nil) })
	return tel, exp
}

// resourceOf ends one span of tel and returns its resource attributes.
func resourceOf(t *testing.T, tel *telemetry.Telemetry, exp *tracetest.InMemoryExporter) map[string]string {
	t.Helper()
	_, span := tel.TracerProvider().Tracer("test").Start(t.Context(), "x")
	span.End()
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans exported; want 1", len(spans))
	}
	out := map[string]string{}
	for _, kv := range spans[0].Resource.Attributes() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func TestServiceNameAndResourcePrecedence(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		c       config.OTelConfig
		environ []string
		want    map[string]string
	}{
		{"binary default", config.OTelConfig{}, nil, map[string]string{"service.name": "tuskq-worker"}},
		{"OTEL_SERVICE_NAME", config.OTelConfig{}, []string{"OTEL_SERVICE_NAME=billing-worker"}, map[string]string{"service.name": "billing-worker"}},
		{"OTEL_RESOURCE_ATTRIBUTES", config.OTelConfig{}, []string{"OTEL_RESOURCE_ATTRIBUTES=service.name=from-attrs,team=q"}, map[string]string{"service.name": "from-attrs", "team": "q"}},
		{
			"keys win over variables",
			config.OTelConfig{ServiceName: "from-config", ResourceAttributes: "team=config,region=eu%2Dwest"},
			[]string{"OTEL_SERVICE_NAME=from-env", "OTEL_RESOURCE_ATTRIBUTES=team=env,zone=a"},
			map[string]string{"service.name": "from-config", "team": "config", "region": "eu-west", "zone": "a"},
		},
	}
	for _, tc := range cases {
		tel, exp := recorded(t, tc.c, tc.environ...)
		got := resourceOf(t, tel, exp)
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: resource %s = %q; want %q (all: %v)", tc.name, k, got[k], v, got)
			}
		}
		if got["telemetry.sdk.name"] != "opentelemetry" {
			t.Errorf("%s: no telemetry.sdk attributes: %v", tc.name, got)
		}
	}
}

func TestSetupErrorsHideHeaders(t *testing.T) {
	t.Parallel()
	_, err := telemetry.Setup(t.Context(), telemetry.Options{Config: config.OTelConfig{Enabled: true, Headers: "Bearer topsecret"}})
	if err == nil || !errors.Is(err, telemetry.ErrSetup) || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("Setup error = %v; want ErrSetup without the headers", err)
	}
	if want := "telemetry: otel.headers: name=value pairs separated by commas, values URL-encoded"; err == nil || err.Error() != want {
		t.Errorf("Setup error = %v; want %q", err, want)
	}
	_, err = telemetry.Setup(t.Context(), telemetry.Options{Config: config.OTelConfig{Enabled: true}, Environ: []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}})
	if want := `telemetry: otel.protocol (or OTEL_EXPORTER_OTLP_PROTOCOL) "http/json" is not valid; expected grpc or http`; err == nil || err.Error() != want {
		t.Errorf("Setup error = %v; want %q", err, want)
	}
}

func TestSampler(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"always_on":                "AlwaysOnSampler",
		"always_off":               "AlwaysOffSampler",
		"traceidratio":             "TraceIDRatioBased{0.25}",
		"parentbased_always_on":    "ParentBased{root:AlwaysOnSampler",
		"parentbased_always_off":   "ParentBased{root:AlwaysOffSampler",
		"parentbased_traceidratio": "ParentBased{root:TraceIDRatioBased{0.25}",
	} {
		if got := telemetry.Sampler(name, 0.25).Description(); !strings.HasPrefix(got, want) {
			t.Errorf("Sampler(%q) = %s; want %s…", name, got, want)
		}
	}
	// The ratio is honoured: at 0 no new trace is recorded, under a
	// sampled parent the parent's decision is.
	tel, exp := recorded(t, config.OTelConfig{Sampler: "parentbased_traceidratio", SamplerRatio: 0})
	tr := tel.TracerProvider().Tracer("test")
	_, root := tr.Start(t.Context(), "root")
	root.End()
	parent := trace.ContextWithRemoteSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled,
	}))
	_, child := tr.Start(parent, "child")
	child.End()
	if got := exp.GetSpans(); len(got) != 1 || got[0].Name != "child" {
		t.Errorf("exported %v; want only the child of the sampled parent", got)
	}
}

// TestRedisSpans: with otel.redis, a traced enqueue gets a Redis span under
// its PRODUCER span, without the command's arguments; a command outside
// any trace gets none.
func TestRedisSpans(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	opt, err := redisconn.ProducerConnOpt(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	tel, exp := recorded(t, config.OTelConfig{Redis: true})
	client, err := tasks.NewClient(tel.RedisConnOpt(opt), tasks.ClientOptions{TracerProvider: tel.TracerProvider(), EnqueueTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans for a PING outside any trace; want 0", n)
	}
	if _, err := client.Enqueue(t.Context(), "email:send", []byte(`{"to":"secret@example.com"}`), &tasks.EnqueueOptions{Queue: "low"}); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	var producer, redisSpans = sdkSpans(spans, trace.SpanKindProducer), sdkSpans(spans, trace.SpanKindClient)
	if len(producer) != 1 || len(redisSpans) == 0 {
		t.Fatalf("spans %v; want one PRODUCER span and Redis CLIENT spans", names(spans))
	}
	for _, s := range redisSpans {
		if s.Parent.SpanID() != producer[0].SpanContext.SpanID() {
			t.Errorf("Redis span %q has parent %s; want the PRODUCER span %s", s.Name, s.Parent.SpanID(), producer[0].SpanContext.SpanID())
		}
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), "secret@example.com") {
				t.Errorf("Redis span %q attribute %s holds the payload", s.Name, kv.Key)
			}
		}
	}
	if got := attrOf(producer[0].Attributes, "messaging.destination.name"); got != "low" {
		t.Errorf("producer destination = %q; want low", got)
	}
}

func sdkSpans(spans tracetest.SpanStubs, k trace.SpanKind) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.SpanKind == k {
			out = append(out, s)
		}
	}
	return out
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.SpanKind.String()+" "+s.Name)
	}
	return out
}

func attrOf(kvs []attribute.KeyValue, key string) string {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

var (
	_ sdktrace.SpanExporter = (*tracetest.InMemoryExporter)(nil)
	_ asynq.RedisConnOpt    = asynq.RedisClientOpt{}
)
