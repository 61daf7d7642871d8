package processors

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracedClient returns a copy of c whose requests are CLIENT spans of tp
// (children of the task attempt's span), with the span's context sent on
// as traceparent. The span's url.full leaves out the query, which may hold
// a secret.
func tracedClient(c *http.Client, tp trace.TracerProvider) *http.Client {
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	t := *c
	t.Transport = otelhttp.NewTransport(queryless{base},
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}))
	return &t
}

// queryless sets the url.full of the request's span without the query
// and fragment, then sends the request through next.
type queryless struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (q queryless) RoundTrip(req *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(req.Context()); span.IsRecording() && req.URL != nil {
		u := *req.URL
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		span.SetAttributes(attribute.String("url.full", u.String()))
	}
	return q.next.RoundTrip(req)
}
