// Package telemetry sets up OpenTelemetry tracing for a tuskq binary from
// the otel section of the configuration: an SDK tracer provider with a
// batching OTLP exporter (gRPC or HTTP), the sampler and the resource.
//
// Off (otel.enabled false, the default, or OTEL_SDK_DISABLED=true), Setup
// builds nothing: TracerProvider returns nil, which every tuskq component
// takes as "make no spans", so tracing costs nothing.
//
// Precedence: a otel.* key that is set wins over the standard OTEL_*
// variable of the same meaning; an empty key defers to the variable, then
// to the default. OTEL_SDK_DISABLED, OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL are read
// from Options.Environ; the other OTEL_* variables (the exporter's endpoint,
// headers, certificates and timeout, the sampler when otel.sampler is
// empty, the batching and span limits) are read by the OpenTelemetry SDK
// itself from the process environment.
//
// With otel.metrics on too, a meter provider exports, every
// otel.metrics_interval and at Shutdown, the instruments of the Prometheus
// registries handed to ExportMetrics (the ones each binary serves on
// /metrics), through the OpenTelemetry Prometheus bridge, to the same
// collector with the same protocol and headers as the spans. Off, no meter
// provider is built and ExportMetrics does nothing.
//
// The package never logs the export headers: they usually hold an API key.
package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/config"
)

// Default service names, one per binary, used when neither otel.service_name
// nor OTEL_SERVICE_NAME names one.
const (
	ServiceWorker  = "tuskq-worker"
	ServiceEnqueue = "tuskq-enqueue"
	ServiceAPI     = "tuskq-api"
	ServiceMonitor = "tuskq-monitor"
)

// ErrSetup is wrapped by every error of Setup.
var ErrSetup = errors.New("telemetry")

// Options configures Setup.
type Options struct {
	// Config is the otel section of the configuration.
	Config config.OTelConfig
	// Service is the service.name used when neither otel.service_name nor
	// OTEL_SERVICE_NAME sets one: ServiceWorker, ServiceEnqueue, … .
	Service string
	// Environ is the process environment as KEY=VALUE strings.
	Environ []string
	// Exporter, when set, replaces the OTLP exporter (tests and
	// benchmarks).
	Exporter sdktrace.SpanExporter
	// Syncer exports each span as it ends rather than in batches (tests).
	Syncer bool
}

// Telemetry is the tracing set up for one process. A nil *Telemetry is
// tracing off: every method works on it and does nothing.
type Telemetry struct {
	tp    *sdktrace.TracerProvider
	redis bool
	// mp and metrics are nil unless otel.metrics is on.
	mp      *sdkmetric.MeterProvider
	metrics *gatherers
}

// Setup builds the tracer provider of opts.Config. With tracing off it
// returns nil and no error. Its errors name the key at fault and never
// quote the headers.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	env := environ(opts.Environ)
	if !opts.Config.Enabled || strings.EqualFold(strings.TrimSpace(env["OTEL_SDK_DISABLED"]), "true") {
		return nil, nil
	}
	res, err := newResource(ctx, opts, env)
	if err != nil {
		return nil, err
	}
	exp := opts.Exporter
	if exp == nil {
		if exp, err = newExporter(ctx, opts.Config, env); err != nil {
			return nil, err
		}
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if opts.Syncer {
		tpOpts = append(tpOpts, sdktrace.WithSyncer(exp))
	} else {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	if s := opts.Config.Sampler; s != "" {
		tpOpts = append(tpOpts, sdktrace.WithSampler(Sampler(s, opts.Config.SamplerRatio)))
	}
	t := &Telemetry{redis: opts.Config.Redis}
	if opts.Config.Metrics {
		t.metrics = &gatherers{}
		if t.mp, err = newMeterProvider(ctx, opts.Config, env, res, t.metrics); err != nil {
			_ = exp.Shutdown(ctx)
			return nil, err
		}
	}
	t.tp = sdktrace.NewTracerProvider(tpOpts...)
	return t, nil
}

// Sampler returns the sampler of an otel.sampler name (one of
// config.Samplers) and ratio; an unknown name samples every trace by
// parent.
func Sampler(name string, ratio float64) sdktrace.Sampler {
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// newResource is the resource of the spans: the SDK's attributes, those of
// OTEL_RESOURCE_ATTRIBUTES, then otel.resource_attributes over them, and
// service.name.
func newResource(ctx context.Context, opts Options, env map[string]string) (*resource.Resource, error) {
	attrs := map[string]string{}
	if v := env["OTEL_RESOURCE_ATTRIBUTES"]; v != "" {
		m, err := config.ParsePairs(v)
		if err != nil {
			return nil, fmt.Errorf("%w: OTEL_RESOURCE_ATTRIBUTES: %w", ErrSetup, err)
		}
		for k, v := range m {
			attrs[k] = v
		}
	}
	m, err := config.ParsePairs(opts.Config.ResourceAttributes)
	if err != nil {
		return nil, fmt.Errorf("%w: otel.resource_attributes: %w", ErrSetup, err)
	}
	for k, v := range m {
		attrs[k] = v
	}
	service := opts.Config.ServiceName
	if service == "" {
		service = env["OTEL_SERVICE_NAME"]
	}
	if service == "" {
		service = attrs[string(semconv.ServiceNameKey)]
	}
	if service == "" {
		service = opts.Service
	}
	kvs := make([]attribute.KeyValue, 0, len(attrs)+1)
	for k, v := range attrs {
		kvs = append(kvs, attribute.String(k, v))
	}
	kvs = append(kvs, semconv.ServiceName(service))
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(kvs...),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: resource: %w", ErrSetup, err)
	}
	return res, nil
}

// newExporter is the OTLP exporter of c.
func newExporter(ctx context.Context, c config.OTelConfig, env map[string]string) (sdktrace.SpanExporter, error) {
	headers, err := config.ParsePairs(c.Headers)
	if err != nil {
		// Never the value: it holds secrets.
		return nil, fmt.Errorf("%w: otel.headers: name=value pairs separated by commas, values URL-encoded", ErrSetup)
	}
	protocol := c.Protocol
	if protocol == "" {
		protocol = cmp.Or(env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"], env["OTEL_EXPORTER_OTLP_PROTOCOL"], config.ProtocolGRPC)
	}
	switch protocol {
	case config.ProtocolGRPC:
		var opts []otlptracegrpc.Option
		if c.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(c.Endpoint))
		}
		if len(headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(headers))
		}
		exp, err := otlptracegrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: otlp over grpc: %w", ErrSetup, err)
		}
		return exp, nil
	case config.ProtocolHTTP, "http/protobuf":
		var opts []otlptracehttp.Option
		if c.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(c.Endpoint))
			if u, err := url.Parse(c.Endpoint); err == nil && (u.Path == "" || u.Path == "/") {
				opts = append(opts, otlptracehttp.WithURLPath("/v1/traces"))
			}
		}
		if len(headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(headers))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: otlp over http: %w", ErrSetup, err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("%w: otel.protocol (or OTEL_EXPORTER_OTLP_PROTOCOL) %s is not valid; expected grpc or http", ErrSetup, strconv.Quote(protocol))
}

// TracerProvider returns the provider to hand to tuskq's components, or
// nil when tracing is off (which they take as "make no spans").
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.tp
}

// Enabled reports whether tracing is on.
func (t *Telemetry) Enabled() bool { return t != nil }

// Shutdown exports the spans still buffered and, with otel.metrics, the
// metrics one last time, and stops the exporters, within ctx's deadline.
// Call it once, at the end of the process.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	if err := t.tp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("%w: flushing spans: %w", ErrSetup, err))
	}
	if t.mp != nil {
		if err := t.mp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%w: flushing metrics: %w", ErrSetup, err))
		}
	}
	return errors.Join(errs...)
}

// ShutdownTimeout bounds the flush of Close.
const ShutdownTimeout = 5 * time.Second

// Close flushes the spans still buffered and the metrics (see Shutdown) within
// ShutdownTimeout, and logs a failure at warn level: a process that ends
// is not failed by a collector that is away. A nil logger discards the
// line.
func (t *Telemetry) Close(ctx context.Context, logger *slog.Logger) {
	if t == nil {
		return
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		logger.WarnContext(ctx, "telemetry not exported at shutdown", "error", err)
	}
}

// Handler wraps h so that each request is a server span named after its
// method and route ("POST /v1/tasks"; operation names the server when
// there is no route), continuing
// the trace of the caller's traceparent. With tracing off it returns h.
func (t *Telemetry) Handler(h http.Handler, operation string) http.Handler {
	if t == nil {
		return h
	}
	return otelhttp.NewHandler(h, operation,
		otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
	)
}

// RouteNames wraps a mux (an *http.ServeMux, or what serves through one)
// so that the server span of each request is named after the route it
// matched, "POST /v1/tasks", with http.route set, when middleware between
// Handler and the mux hands the mux a copy of the request (which hides the
// matched pattern from otelhttp). With tracing off it returns mux.
func (t *Telemetry) RouteNames(mux http.Handler) http.Handler {
	if t == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if r.Pattern == "" {
			return
		}
		route := r.Pattern
		if _, path, ok := strings.Cut(route, " "); ok {
			route = path
		}
		span := trace.SpanFromContext(r.Context())
		span.SetName(r.Method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
	})
}

// environ returns the OTEL_* variables of env (KEY=VALUE strings); the
// last of a name wins.
func environ(env []string) map[string]string {
	out := make(map[string]string, 8)
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OTEL_") {
			out[k] = v
		}
	}
	return out
}
