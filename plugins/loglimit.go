package plugins

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Defaults of the plugin log limits (Options.LogRate, LogBurst).
const (
	// DefaultLogRate is how many stderr lines per second a plugin may put
	// in the worker's log, all its processes together.
	DefaultLogRate = 100
	// DefaultLogBurst is how many lines a plugin may log at once above the
	// rate (a stack trace, say).
	DefaultLogBurst = 500
	// LogSummaryEvery is how often, at most, a plugin that keeps logging
	// too fast gets a "plugin log lines dropped" record.
	LogSummaryEvery = 10 * time.Second
)

// LogLimiter bounds the stderr lines one plugin puts in the worker's log
// (a token bucket). Lines above the limit are dropped and counted in
// tuskq_plugin_log_lines_dropped_total; a "plugin log lines dropped"
// warning says how many, when the plugin's lines are logged again, every
// LogSummaryEvery while they are dropped, and when a process's stderr
// ends. The Manager makes one per plugin and hands it to runtimes in
// Spec.LogLimit. A nil *LogLimiter allows every line.
type LogLimiter struct {
	lim     *rate.Limiter
	logger  *slog.Logger
	counter prometheus.Counter

	mu      sync.Mutex
	pending int       // dropped and not reported yet
	since   time.Time // first of them
}

// NewLogLimiter returns a limiter allowing perSecond lines a second with
// bursts of burst lines. Dropped lines are added to counter (may be nil)
// and reported to logger.
func NewLogLimiter(perSecond float64, burst int, counter prometheus.Counter, logger *slog.Logger) *LogLimiter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LogLimiter{lim: rate.NewLimiter(rate.Limit(perSecond), burst), logger: logger, counter: counter}
}

// Allow reports whether one more line may be logged now; ctx is the
// line's (for the summary record's trace_id).
func (l *LogLimiter) Allow(ctx context.Context) bool {
	if l == nil {
		return true
	}
	now := time.Now()
	ok := l.lim.AllowN(now, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.reportLocked(ctx, now)
		return true
	}
	if l.counter != nil {
		l.counter.Inc()
	}
	if l.pending == 0 {
		l.since = now
	}
	l.pending++
	if now.Sub(l.since) >= LogSummaryEvery {
		l.reportLocked(ctx, now)
	}
	return false
}

// Flush reports the lines dropped and not reported yet.
func (l *LogLimiter) Flush(ctx context.Context) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reportLocked(ctx, time.Now())
}

func (l *LogLimiter) reportLocked(ctx context.Context, now time.Time) {
	if l.pending == 0 {
		return
	}
	l.logger.WarnContext(ctx, "plugin log lines dropped",
		"dropped", l.pending, "during", now.Sub(l.since).Round(time.Millisecond),
		"limit_per_second", float64(l.lim.Limit()), "burst", l.lim.Burst())
	l.pending = 0
}
