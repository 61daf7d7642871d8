// Package testutil holds the helpers that the tests of several packages
// share: a LogBuffer that collects and decodes the JSON log lines of the
// code under test, Poll, which waits for a condition with a deadline
// instead of sleeping, and MetricLine, which finds a sample in a
// Prometheus text exposition.
//
// It is an ordinary package (not a _test.go file) so that tests in any
// package of the module can import it; only tests should.
package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/logging"
)

// LogBuffer collects log output: an io.Writer safe for concurrent writers
// and a polling reader. The zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Records decodes the JSON lines written so far and returns those whose
// "msg" is msg, or all of them when msg is "", in the order written. Lines
// that do not start with "{" (a panic trace, a child's plain output) are
// skipped; a line that starts with "{" but is not JSON fails the test.
func (b *LogBuffer) Records(tb testing.TB, msg string) []map[string]any {
	tb.Helper()
	b.mu.Lock()
	data := bytes.Clone(b.buf.Bytes())
	b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !bytes.HasPrefix(sc.Bytes(), []byte("{")) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			tb.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		if msg == "" || m["msg"] == msg {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read log lines: %v", err)
	}
	return out
}

// Logger returns a JSON logger (logging.New) writing into b from level on;
// a nil level means slog.LevelInfo.
func (b *LogBuffer) Logger(tb testing.TB, level slog.Leveler) *slog.Logger {
	tb.Helper()
	l, err := logging.New(b, logging.Options{Level: level})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// pollEvery is Poll's interval.
const pollEvery = 5 * time.Millisecond

// Poll calls cond every 5 ms until it returns true and returns how long
// that took. It fails the test when limit passes first, naming what it
// waited for.
func Poll(tb testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			tb.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(pollEvery) // polling interval, not synchronisation
	}
	return time.Since(start)
}

// MetricLine returns the sample line of prefix (a metric name with its
// labels, such as `tuskq_tasks_processed_total{queue="default"}`) in a
// Prometheus text exposition, or "" when there is none.
func MetricLine(body, prefix string) string {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			return line
		}
	}
	return ""
}

// LeakOptions are the goleak options of the packages whose TestMain checks
// for leaked goroutines (goleak.VerifyTestMain(m, testutil.LeakOptions()...)),
// with extra appended. This is the one place to ignore a third-party
// background goroutine that a test cannot end, each with its reason:
//
//   - go-redis's pool.(*ConnPool).tryDial: after failed dials (a test that
//     takes Redis away) the pool retries in the background, sleeping one
//     second between tries, and sees that the pool was closed only when it
//     wakes; it then exits. It is a bounded wait of at most a second, not
//     a leak, but goleak's own retries can end before it on a busy machine.
//
// Everything else of asynq's and go-redis's stops when its server or
// client is closed, so any other report means a test or the code under it
// left a goroutine running.
func LeakOptions(extra ...goleak.Option) []goleak.Option {
	opts := []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	}
	return append(opts, extra...)
}
