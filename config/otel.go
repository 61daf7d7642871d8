package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Values of otel.exporter.
const (
	// ExporterOTLP sends spans over the OpenTelemetry protocol.
	ExporterOTLP = "otlp"
)

// Values of otel.protocol.
const (
	// ProtocolGRPC is OTLP over gRPC (port 4317 by convention).
	ProtocolGRPC = "grpc"
	// ProtocolHTTP is OTLP over HTTP with protobuf bodies (port 4318);
	// "http/protobuf", the name OTEL_EXPORTER_OTLP_PROTOCOL uses, is
	// accepted too.
	ProtocolHTTP = "http"
)

// Samplers accepted in otel.sampler: the names OTEL_TRACES_SAMPLER uses.
var Samplers = []string{
	"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
}

// OTelConfig configures OpenTelemetry tracing. Every key left empty defers
// to the standard OTEL_* environment variable of the same meaning
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER and _ARG,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), then to the built-in
// default; a key that is set wins over the variable.
type OTelConfig struct {
	// Enabled turns tracing on. Off (the default), no OpenTelemetry SDK is
	// set up and no span is made. OTEL_SDK_DISABLED=true turns it off
	// whatever this says.
	Enabled bool `koanf:"enabled"`
	// Exporter is where spans go: otlp, the default (empty means otlp
	// too).
	Exporter string `koanf:"exporter"`
	// Protocol is grpc or http (OTLP/HTTP with protobuf). Empty:
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL,
	// else grpc.
	Protocol string `koanf:"protocol"`
	// Endpoint is the collector's URL: http://host:4317 (plain text) or
	// https://host:4317 (TLS) for grpc, http://host:4318 for http (the
	// path /v1/traces is added when the URL has none). Empty: the
	// OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT variable, else localhost on
	// the protocol's port.
	Endpoint string `koanf:"endpoint"`
	// Headers are sent with every export, as comma-separated name=value
	// pairs with URL-encoded values ("authorization=Bearer%20abc,x-team=q"),
	// the form of OTEL_EXPORTER_OTLP_HEADERS. They usually hold an API
	// key: secret, masked when printed, never logged.
	Headers string `koanf:"headers" secret:"true"`
	// Sampler decides which traces are recorded: always_on, always_off,
	// traceidratio, parentbased_always_on, parentbased_always_off or
	// parentbased_traceidratio. Empty: OTEL_TRACES_SAMPLER, else
	// parentbased_always_on. The parentbased samplers follow the decision
	// of the trace's caller, so a trace is recorded whole or not at all.
	Sampler string `koanf:"sampler"`
	// SamplerRatio is the share of new traces recorded by the
	// *traceidratio samplers, from 0 to 1. Defaults to 1. Used only when
	// Sampler is set (otherwise OTEL_TRACES_SAMPLER_ARG applies).
	SamplerRatio float64 `koanf:"sampler_ratio"`
	// ServiceName is the service.name of the spans. Empty:
	// OTEL_SERVICE_NAME, else tuskq-worker, tuskq-enqueue, tuskq-api or
	// tuskq-monitor after the binary.
	ServiceName string `koanf:"service_name"`
	// ResourceAttributes are added to every span's resource, as
	// comma-separated name=value pairs ("deployment.environment.name=prod"),
	// over those of OTEL_RESOURCE_ATTRIBUTES.
	ResourceAttributes string `koanf:"resource_attributes"`
	// Redis adds a client span for every Redis command sent within a
	// traced operation (an enqueue, a task attempt, an API request).
	// Commands outside any trace (the worker's polling) make no span.
	// Off by default: it multiplies the spans per task.
	Redis bool `koanf:"redis"`
	// Metrics exports, besides tracing, the instruments of the binary's
	// Prometheus registry (the one served on /metrics) over OTLP, to the
	// same collector with the same protocol and headers as the spans.
	// Needs Enabled. Off by default: /metrics keeps working either way.
	Metrics bool `koanf:"metrics"`
	// MetricsInterval is the time between two metric exports. Zero (the
	// default): OTEL_METRIC_EXPORT_INTERVAL, else 60s. At least 1s.
	MetricsInterval time.Duration `koanf:"metrics_interval"`
}

// ErrBadPairs is returned by ParsePairs for a malformed list.
var ErrBadPairs = errors.New("bad name=value list")

// ParsePairs parses comma-separated name=value pairs with URL-encoded
// values, the form of OTEL_EXPORTER_OTLP_HEADERS and
// OTEL_RESOURCE_ATTRIBUTES. Spaces around names and values are trimmed;
// an empty string is an empty map. Its errors never quote a value, which
// may be a secret.
func ParsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, item := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: item %d is not name=value", ErrBadPairs, i+1)
		}
		if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '%' }) {
			return nil, fmt.Errorf("%w: name %q holds a space, a control character or %%", ErrBadPairs, name)
		}
		v, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%w: the value of %q is not URL-encoded correctly", ErrBadPairs, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: %q appears twice", ErrBadPairs, name)
		}
		out[name] = v
	}
	return out, nil
}

func (o OTelConfig) validate(v *validator) {
	if o.Exporter != "" && o.Exporter != ExporterOTLP {
		v.add("otel.exporter", o.Exporter, "otlp")
	}
	switch o.Protocol {
	case "", ProtocolGRPC, ProtocolHTTP, "http/protobuf":
	default:
		v.add("otel.protocol", o.Protocol, "grpc or http (or empty for OTEL_EXPORTER_OTLP_PROTOCOL, else grpc)")
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("otel.endpoint", o.Endpoint, "a URL such as http://otel-collector:4317 (https:// for TLS)")
		}
	}
	// "****" is what config print writes for headers that are set; a
	// printed config reads back (and telemetry refuses it at start-up).
	if _, err := ParsePairs(o.Headers); err != nil && o.Headers != maskValue {
		// The value is a secret: shown masked, and without the parser's
		// detail, which may quote part of it.
		v.add("otel.headers", masked(o.Headers), "name=value pairs separated by commas, values URL-encoded, such as api-key=abc123,x-team=queue")
	}
	if o.Sampler != "" && !slices.Contains(Samplers, o.Sampler) {
		v.add("otel.sampler", o.Sampler, strings.Join(Samplers, ", ")+" (or empty for OTEL_TRACES_SAMPLER)")
	}
	if o.SamplerRatio < 0 || o.SamplerRatio > 1 {
		v.add("otel.sampler_ratio", o.SamplerRatio, "a number from 0 to 1, such as 0.01 for 1 % of new traces")
	}
	if o.Metrics && !o.Enabled {
		v.add("otel.metrics", o.Metrics, "false, or set otel.enabled: true too (metrics go to the collector of the spans)")
	}
	if o.MetricsInterval != 0 && o.MetricsInterval < time.Second {
		v.add("otel.metrics_interval", o.MetricsInterval, "a duration of at least 1s, such as 30s (or 0 for OTEL_METRIC_EXPORT_INTERVAL, else 60s)")
	}
	if _, err := ParsePairs(o.ResourceAttributes); err != nil {
		v.add("otel.resource_attributes", o.ResourceAttributes, "name=value pairs separated by commas, such as deployment.environment.name=prod ("+err.Error()+")")
	}
}
