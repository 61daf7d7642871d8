package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpserve"
	"github.com/tuskq/tuskq/internal/telemetry"
)

// Defaults applied to zero Options fields.
const (
	// DefaultShutdownTimeout bounds how long Run lets requests in flight
	// finish after its context is cancelled.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultCancelWait bounds how long DELETE waits for an active task to
	// stop after asking its worker to cancel it.
	DefaultCancelWait = 5 * time.Second
	// DefaultIdempotencyWait bounds how long a request waits for another
	// request with the same Idempotency-Key that is still in progress.
	DefaultIdempotencyWait = 10 * time.Second
	// DefaultEventsHeartbeat is how often GET /v1/events writes a comment
	// when no event comes.
	DefaultEventsHeartbeat = 15 * time.Second
	// DefaultMaxEventStreams bounds the event streams served at once.
	DefaultMaxEventStreams = 64
	// DefaultPingTimeout bounds the Redis PING of /readyz.
	DefaultPingTimeout = 2 * time.Second
	// DefaultFailedTokenBurst is how many failed tokens a client address
	// may send in a row before it is refused with 429.
	DefaultFailedTokenBurst = 10
	// DefaultFailedTokenRefill is how often a client address regains one
	// failed token.
	DefaultFailedTokenRefill = 10 * time.Second
)

var (
	// ErrInsecureListen is matched by the error Run returns for a listen
	// address that is not loopback while no token is configured.
	ErrInsecureListen = httpserve.ErrInsecureListen
	// ErrBadOptions is matched by errors about unusable options: a
	// malformed listen address, a token that is too short or used twice,
	// an invalid configuration.
	ErrBadOptions = errors.New("invalid API options")
)

// SchemaValidator checks a payload before it is enqueued; it is the hook
// through which plugins that publish payload schemas take part.
// ValidatePayload returns nil when the payload is acceptable, or when it
// knows no schema for the type; any error rejects the task with a 400
// problem whose errors name the field "payload" and carry the error's
// text, which must not echo secrets from the payload. It is called
// concurrently.
type SchemaValidator interface {
	ValidatePayload(ctx context.Context, taskType string, payload []byte) error
}

// Options configures New and Run.
type Options struct {
	// Config is the whole tuskq configuration. The API reads the redis
	// section (connection), worker.queues and routes (the queues it
	// knows and the routing defaults) and the api section.
	Config config.Config
	// Logger receives one JSON line per request and the server's own
	// lines. Nil discards them.
	Logger *slog.Logger
	// Status receives the one-line messages meant for a person: the URL
	// served, a Redis unreachable at start. Nil discards them.
	Status io.Writer
	// OnListen, when set, is called by Run once it serves, with the bound
	// address (useful with port 0).
	OnListen func(addr net.Addr)
	// SchemaValidator, when set, validates every payload before it is
	// enqueued. Nil validates nothing.
	SchemaValidator SchemaValidator
	// ShutdownTimeout bounds the graceful shutdown of Run. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// CancelWait bounds how long DELETE of an active task waits for it to
	// stop. Zero means DefaultCancelWait.
	CancelWait time.Duration
	// IdempotencyWait bounds how long a request waits for another one with
	// the same Idempotency-Key that is still in progress. Zero means
	// DefaultIdempotencyWait.
	IdempotencyWait time.Duration
	// PingTimeout bounds the Redis PING of /readyz. Zero means
	// DefaultPingTimeout.
	PingTimeout time.Duration
	// EventsHeartbeat is how often GET /v1/events writes a comment line
	// when no event comes (keeping proxies from closing the stream). Zero
	// means DefaultEventsHeartbeat.
	EventsHeartbeat time.Duration
	// MaxEventStreams bounds the GET /v1/events streams served at once
	// (each holds a Redis connection); more answer 503. Zero means
	// DefaultMaxEventStreams.
	MaxEventStreams int
	// FailedTokenBurst is how many requests with a wrong or malformed
	// token a client address may send in a row; then it is answered 429
	// until it regains one every FailedTokenRefill. Zero means
	// DefaultFailedTokenBurst.
	FailedTokenBurst int
	// FailedTokenRefill is how often a client address regains one failed
	// token. Zero means DefaultFailedTokenRefill.
	FailedTokenRefill time.Duration
	// Now is the clock of the failed-token limit. Nil means time.Now.
	Now func() time.Time
	// Telemetry, when not nil, makes every request a server span and
	// every task enqueued a PRODUCER span under it; with otel.metrics, the
	// registry of /metrics is exported over OTLP too. Nil makes no span.
	Telemetry *telemetry.Telemetry
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Status == nil {
		o.Status = io.Discard
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.CancelWait <= 0 {
		o.CancelWait = DefaultCancelWait
	}
	if o.IdempotencyWait <= 0 {
		o.IdempotencyWait = DefaultIdempotencyWait
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.EventsHeartbeat <= 0 {
		o.EventsHeartbeat = DefaultEventsHeartbeat
	}
	if o.MaxEventStreams <= 0 {
		o.MaxEventStreams = DefaultMaxEventStreams
	}
	if o.FailedTokenBurst <= 0 {
		o.FailedTokenBurst = DefaultFailedTokenBurst
	}
	if o.FailedTokenRefill <= 0 {
		o.FailedTokenRefill = DefaultFailedTokenRefill
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// checkListen accepts a loopback host:port, and any host:port when tokens
// are required.
func checkListen(addr string, tokens bool) error {
	return httpserve.CheckListen(addr, httpserve.ListenRule{
		Server: "enqueue serve", Key: "api.listen", Example: "127.0.0.1:8090", Auth: tokens,
		Risk: "anyone who can reach it could enqueue and delete tasks", Fix: "add api.tokens",
		Invalid: ErrBadOptions,
	})
}
