package config

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParsePairs(t *testing.T) {
	t.Parallel()
	good := map[string]map[string]string{
		"":                                    {},
		" ":                                   {},
		"a=b":                                 {"a": "b"},
		" a = b , c=d%20e ":                   {"a": "b", "c": "d e"},
		"authorization=Bearer%20x,x-team=q=1": {"authorization": "Bearer x", "x-team": "q=1"},
		"empty=":                              {"empty": ""},
	}
	for in, want := range good {
		got, err := ParsePairs(in)
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("ParsePairs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"a":         "bad name=value list: item 1 is not name=value",
		"a=b,":      "bad name=value list: item 2 is not name=value",
		"=b":        "bad name=value list: item 1 is not name=value",
		"a b=c":     `bad name=value list: name "a b" holds a space, a control character or %`,
		"a=%zz":     `bad name=value list: the value of "a" is not URL-encoded correctly`,
		"a=1,a=2":   `bad name=value list: "a" appears twice`,
		"k=v,,x=y":  "bad name=value list: item 2 is not name=value",
		"n%41m=val": `bad name=value list: name "n%41m" holds a space, a control character or %`,
	}
	for in, want := range bad {
		_, err := ParsePairs(in)
		if err == nil || err.Error() != want || !errors.Is(err, ErrBadPairs) {
			t.Errorf("ParsePairs(%q) error = %v; want %q", in, err, want)
		}
	}
}

func TestOTelValidation(t *testing.T) {
	t.Parallel()
	c := Default()
	c.OTel = OTelConfig{
		Exporter:           "jaeger",
		Protocol:           "thrift",
		Endpoint:           "collector:4317",
		Headers:            "Bearer s3cretvalue",
		Sampler:            "sometimes",
		SamplerRatio:       1.5,
		ResourceAttributes: "env",
		Metrics:            true,
		MetricsInterval:    500 * time.Millisecond,
	}
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v; want a ValidationError", err)
	}
	want := []string{
		`config: otel.exporter: "jaeger" is not valid; expected otlp`,
		`config: otel.protocol: "thrift" is not valid; expected grpc or http (or empty for OTEL_EXPORTER_OTLP_PROTOCOL, else grpc)`,
		`config: otel.endpoint: "collector:4317" is not valid; expected a URL such as http://otel-collector:4317 (https:// for TLS)`,
		`config: otel.headers: "****" is not valid; expected name=value pairs separated by commas, values URL-encoded, such as api-key=abc123,x-team=queue`,
		`config: otel.sampler: "sometimes" is not valid; expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio (or empty for OTEL_TRACES_SAMPLER)`,
		`config: otel.sampler_ratio: 1.5 is not valid; expected a number from 0 to 1, such as 0.01 for 1 % of new traces`,
		`config: otel.metrics: true is not valid; expected false, or set otel.enabled: true too (metrics go to the collector of the spans)`,
		`config: otel.metrics_interval: 500ms is not valid; expected a duration of at least 1s, such as 30s (or 0 for OTEL_METRIC_EXPORT_INTERVAL, else 60s)`,
		`config: otel.resource_attributes: "env" is not valid; expected name=value pairs separated by commas, such as deployment.environment.name=prod (bad name=value list: item 1 is not name=value)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Validate() =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the headers: %v", err)
	}
	c.OTel = OTelConfig{Enabled: true, Protocol: "http/protobuf", Endpoint: "https://c.example:4318/v1/traces", Headers: "api-key=abc", Sampler: "traceidratio", SamplerRatio: 0}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v; want nil", err)
	}
}

func TestOTelFromEnvironmentAndMasked(t *testing.T) {
	t.Parallel()
	c, err := Load(LoadOptions{Environ: []string{
		"TUSKQ_OTEL_ENABLED=true",
		"TUSKQ_OTEL_HEADERS=x-api-key=topsecretvalue",
		"TUSKQ_OTEL_SAMPLER=parentbased_traceidratio",
		"TUSKQ_OTEL_SAMPLER_RATIO=0.01",
		"TUSKQ_OTEL_METRICS=true",
		"TUSKQ_OTEL_METRICS_INTERVAL=15s",
		"OTEL_SERVICE_NAME=ignored-by-config",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.OTel.Enabled || c.OTel.Headers != "x-api-key=topsecretvalue" || c.OTel.SamplerRatio != 0.01 || c.OTel.Sampler != "parentbased_traceidratio" ||
		!c.OTel.Metrics || c.OTel.MetricsInterval != 15*time.Second {
		t.Errorf("OTel = %+v", c.OTel)
	}
	var buf bytes.Buffer
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "topsecretvalue") || !strings.Contains(buf.String(), "  headers: '****'\n") || !strings.Contains(buf.String(), "  sampler_ratio: 0.01\n") {
		t.Errorf("written config:\n%s", buf.String())
	}
	if _, err := Load(LoadOptions{Environ: []string{"TUSKQ_OTEL_SAMPLER_RATIO=abc"}}); err == nil || !strings.Contains(err.Error(), "TUSKQ_OTEL_SAMPLER_RATIO: otel.sampler_ratio: \"abc\" is not valid; expected a number such as 0.25") {
		t.Errorf("bad ratio: %v", err)
	}
}

// FuzzParsePairs: ParsePairs never panics, and what it accepts written
// back as name=value pairs (values escaped) parses to the same map.
func FuzzParsePairs(f *testing.F) {
	for _, s := range []string{"", "a=b", " a = b , c=d%20e ", "a", "a=%zz", "a=1,a=2", "x=%E2%82%AC"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParsePairs(s)
		if err != nil {
			if !errors.Is(err, ErrBadPairs) {
				t.Fatalf("error %v does not wrap ErrBadPairs", err)
			}
			return
		}
		var parts []string
		for k, v := range m {
			parts = append(parts, k+"="+escapeValue(v))
		}
		back, err := ParsePairs(strings.Join(parts, ","))
		if err != nil || !maps.Equal(back, m) {
			t.Fatalf("%q parsed to %v; written back it parses to %v, %v", s, m, back, err)
		}
	})
}

// escapeValue percent-encodes every byte that is not a letter or digit.
func escapeValue(v string) string {
	var b strings.Builder
	for i := range len(v) {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])) + strings.ToUpper(string("0123456789abcdef"[c&15])))
	}
	return b.String()
}
