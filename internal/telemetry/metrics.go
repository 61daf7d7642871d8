package telemetry

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	promb "go.opentelemetry.io/contrib/bridges/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/tuskq/tuskq/config"
)

// gatherers is the set of Prometheus registries whose instruments are
// exported over OTLP: the bridge reads it at every export, so a binary can
// hand its registry over after Setup.
type gatherers struct {
	mu   sync.Mutex
	list prometheus.Gatherers
}

// Gather implements prometheus.Gatherer over every registry added.
func (g *gatherers) Gather() ([]*dto.MetricFamily, error) {
	g.mu.Lock()
	list := append(prometheus.Gatherers(nil), g.list...)
	g.mu.Unlock()
	return list.Gather()
}

// newMeterProvider is the meter provider of otel.metrics: a periodic reader
// whose only producer is the Prometheus bridge over g, exporting to the
// collector of the spans.
func newMeterProvider(ctx context.Context, c config.OTelConfig, env map[string]string, res *resource.Resource, g *gatherers) (*sdkmetric.MeterProvider, error) {
	exp, err := newMetricExporter(ctx, c, env)
	if err != nil {
		return nil, err
	}
	ropts := []sdkmetric.PeriodicReaderOption{sdkmetric.WithProducer(promb.NewMetricProducer(promb.WithGatherer(g)))}
	if c.MetricsInterval > 0 {
		ropts = append(ropts, sdkmetric.WithInterval(c.MetricsInterval))
	}
	return sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, ropts...)),
	), nil
}

// newMetricExporter is the OTLP metric exporter of c: the protocol,
// endpoint and headers of the spans. Over http, the path is /v1/metrics (a
// path ending in /v1/traces has that end replaced, another path gets
// /v1/metrics appended).
func newMetricExporter(ctx context.Context, c config.OTelConfig, env map[string]string) (sdkmetric.Exporter, error) {
	headers, err := config.ParsePairs(c.Headers)
	if err != nil {
		// Never the value: it holds secrets.
		return nil, fmt.Errorf("%w: otel.headers: name=value pairs separated by commas, values URL-encoded", ErrSetup)
	}
	protocol := c.Protocol
	if protocol == "" {
		protocol = cmp.Or(env["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"], env["OTEL_EXPORTER_OTLP_PROTOCOL"], config.ProtocolGRPC)
	}
	switch protocol {
	case config.ProtocolGRPC:
		var opts []otlpmetricgrpc.Option
		if c.Endpoint != "" {
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(c.Endpoint))
		}
		if len(headers) > 0 {
			opts = append(opts, otlpmetricgrpc.WithHeaders(headers))
		}
		exp, err := otlpmetricgrpc.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: otlp metrics over grpc: %w", ErrSetup, err)
		}
		return exp, nil
	case config.ProtocolHTTP, "http/protobuf":
		var opts []otlpmetrichttp.Option
		if c.Endpoint != "" {
			opts = append(opts, otlpmetrichttp.WithEndpointURL(c.Endpoint))
			if u, err := url.Parse(c.Endpoint); err == nil {
				opts = append(opts, otlpmetrichttp.WithURLPath(MetricsPath(u.Path)))
			}
		}
		if len(headers) > 0 {
			opts = append(opts, otlpmetrichttp.WithHeaders(headers))
		}
		exp, err := otlpmetrichttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: otlp metrics over http: %w", ErrSetup, err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("%w: otel.protocol (or OTEL_EXPORTER_OTLP_PROTOCOL) %s is not valid; expected grpc or http", ErrSetup, strconv.Quote(protocol))
}

// MetricsPath is the OTLP/HTTP path metrics are sent to for the path of
// otel.endpoint: /v1/metrics for none, the path with its /v1/traces end
// replaced by /v1/metrics, or any other path with /v1/metrics appended.
func MetricsPath(p string) string {
	if base, ok := strings.CutSuffix(p, "/v1/traces"); ok {
		return base + "/v1/metrics"
	}
	return strings.TrimSuffix(p, "/") + "/v1/metrics"
}

// ExportMetrics adds g, a binary's Prometheus registry, to the instruments
// exported over OTLP (otel.metrics): each periodic export and the final one
// at Shutdown gather it through the OpenTelemetry Prometheus bridge. With
// tracing or otel.metrics off it does nothing, so /metrics alone serves g.
func (t *Telemetry) ExportMetrics(g prometheus.Gatherer) {
	if t == nil || t.metrics == nil || g == nil {
		return
	}
	t.metrics.mu.Lock()
	defer t.metrics.mu.Unlock()
	t.metrics.list = append(t.metrics.list, g)
}

// MetricsEnabled reports whether the Prometheus instruments are exported
// over OTLP (otel.metrics with otel.enabled).
func (t *Telemetry) MetricsEnabled() bool { return t != nil && t.mp != nil }
