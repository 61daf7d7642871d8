package logging

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// RedisLogger routes go-redis's internal log lines (dial failures, pool
// warnings) into a slog.Logger at warn level with component=redis, so they
// join the JSON stream instead of appearing as plain text on stderr. Install
// it once per process, in main, with redis.SetLogger(logging.NewRedisLogger(l)).
type RedisLogger struct {
	l *slog.Logger
}

// NewRedisLogger returns a RedisLogger writing to l.
func NewRedisLogger(l *slog.Logger) *RedisLogger { return &RedisLogger{l: l} }

// Printf logs one go-redis message. It satisfies go-redis's internal
// Logging interface.
func (r *RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	if r == nil || r.l == nil {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	r.l.WarnContext(ctx, msg, KeyComponent, "redis")
}
