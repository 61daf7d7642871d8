package telemetry

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// InstrumentRedis adds a CLIENT span per Redis command (and pipeline) sent
// by rdb within a traced operation, when otel.redis is on; otherwise it
// does nothing. Commands sent outside any trace (a worker's polling, asynq's
// housekeeping) make no span, and the spans carry the command's name, never
// its arguments (which hold task payloads).
func (t *Telemetry) InstrumentRedis(rdb redis.UniversalClient) error {
	if t == nil || !t.redis {
		return nil
	}
	if err := redisotel.InstrumentTracing(rdb,
		redisotel.WithTracerProvider(childOnly{t.tp}),
		redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false),
		redisotel.WithDialFilter(true),
	); err != nil {
		return fmt.Errorf("%w: otel.redis: %w", ErrSetup, err)
	}
	return nil
}

// RedisConnOpt returns opt whose clients are instrumented as
// InstrumentRedis does, or opt itself when otel.redis is off.
func (t *Telemetry) RedisConnOpt(opt asynq.RedisConnOpt) asynq.RedisConnOpt {
	if t == nil || !t.redis {
		return opt
	}
	return instrumentedOpt{opt: opt, t: t}
}

// instrumentedOpt makes opt's clients and instruments them.
type instrumentedOpt struct {
	opt asynq.RedisConnOpt
	t   *Telemetry
}

// MakeRedisClient implements asynq.RedisConnOpt.
func (o instrumentedOpt) MakeRedisClient() any {
	c := o.opt.MakeRedisClient()
	if rdb, ok := c.(redis.UniversalClient); ok {
		// Only an unknown client type fails, and then it stays untraced.
		_ = o.t.InstrumentRedis(rdb)
	}
	return c
}

// childOnly is a TracerProvider whose tracers make spans only under a
// span already in the context.
type childOnly struct{ trace.TracerProvider }

// Tracer implements trace.TracerProvider.
func (c childOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{c.TracerProvider.Tracer(name, opts...)}
}

// childOnlyTracer starts spans only under a valid span context.
type childOnlyTracer struct{ trace.Tracer }

// Start implements trace.Tracer: without a span in ctx it returns ctx and
// the non-recording span of ctx.
func (c childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return c.Tracer.Start(ctx, name, opts...)
}
