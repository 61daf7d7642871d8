package testutil_test

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/testutil"
)

// fatalTB records the first Fatalf and ends the goroutine, as testing.T
// does, without failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

// runFatal runs fn with a fatalTB in its own goroutine and returns the
// failure message ("" when fn returned normally).
func runFatal(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

func TestLogBufferRecords(t *testing.T) {
	t.Parallel()
	var b testutil.LogBuffer
	logger := b.Logger(t, nil)
	logger.Info("a", "n", 1)
	logger.Debug("a", "n", 0) // below the level
	logger.Info("b")
	_, _ = b.Write([]byte("panic: not a log line\n"))
	logger.Warn("a", "n", 2)

	got := b.Records(t, "a")
	if len(got) != 2 || got[0]["n"] != 1.0 || got[1]["n"] != 2.0 || got[1]["level"] != "WARN" {
		t.Fatalf(`Records("a") = %v; want n=1 then n=2 (WARN)`, got)
	}
	if all := b.Records(t, ""); len(all) != 3 || all[1]["msg"] != "b" {
		t.Fatalf(`Records("") = %v; want a, b, a`, all)
	}
	if s := b.String(); !strings.Contains(s, "panic: not a log line\n") {
		t.Fatalf("String() = %q; want the plain line too", s)
	}
}

func TestLogBufferDebugLevel(t *testing.T) {
	t.Parallel()
	var b testutil.LogBuffer
	b.Logger(t, slog.LevelDebug).Debug("d")
	if got := b.Records(t, "d"); len(got) != 1 || got[0]["level"] != "DEBUG" {
		t.Fatalf(`Records("d") = %v; want one DEBUG record`, got)
	}
}

func TestLogBufferConcurrentWriters(t *testing.T) {
	t.Parallel()
	var b testutil.LogBuffer
	logger := b.Logger(t, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				logger.Info("w", "g", g, "i", i)
				_ = b.Records(t, "w") // a polling reader meanwhile
			}
		})
	}
	wg.Wait()
	if got := len(b.Records(t, "w")); got != 400 {
		t.Fatalf("records = %d; want 400", got)
	}
}

func TestLogBufferBadJSONFails(t *testing.T) {
	t.Parallel()
	var b testutil.LogBuffer
	_, _ = b.Write([]byte("{\"msg\":\"ok\"}\n{not json\n"))
	msg := runFatal(t, func(tb testing.TB) { b.Records(tb, "") })
	want := "log line is not JSON: invalid character 'n' looking for beginning of object key string: {not json"
	if msg != want {
		t.Fatalf("failure = %q; want %q", msg, want)
	}
}

func TestPollReturnsOnceTrue(t *testing.T) {
	t.Parallel()
	calls := 0
	d := testutil.Poll(t, time.Minute, "three calls", func() bool {
		calls++
		return calls == 3
	})
	if calls != 3 {
		t.Fatalf("cond called %d times; want 3", calls)
	}
	if d < 2*5*time.Millisecond || d > 30*time.Second {
		t.Fatalf("Poll took %s; want two 5 ms intervals at least", d)
	}
}

func TestPollTimesOut(t *testing.T) {
	t.Parallel()
	calls := 0
	msg := runFatal(t, func(tb testing.TB) {
		testutil.Poll(tb, 20*time.Millisecond, "the impossible", func() bool { calls++; return false })
	})
	if msg != "timed out after 20ms waiting for the impossible" {
		t.Fatalf("failure = %q", msg)
	}
	if calls < 2 {
		t.Fatalf("cond called %d times; want it polled", calls)
	}
}

func TestMetricLine(t *testing.T) {
	t.Parallel()
	body := "# HELP x_total X.\n# TYPE x_total counter\n" +
		"x_total{queue=\"a\"} 3\nx_total{queue=\"ab\"} 4\nx_total_other 5\n"
	for prefix, want := range map[string]string{
		`x_total{queue="a"}`:  `x_total{queue="a"} 3`,
		`x_total{queue="ab"}`: `x_total{queue="ab"} 4`,
		`x_total`:             "",
		`x_total{queue="c"}`:  "",
	} {
		if got := testutil.MetricLine(body, prefix); got != want {
			t.Errorf("MetricLine(%s) = %q; want %q", prefix, got, want)
		}
	}
}
