package limits_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/limits"
)

// The edges of a rate: a count of 1 to 1e9, a period of 1ms to 24h, at
// most one start per microsecond.
func TestParseRateEdges(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]limits.Rate{
		"1/s":          {N: 1, Per: time.Second},
		"1000000000/h": {N: 1_000_000_000, Per: time.Hour},
		"1/1ms":        {N: 1, Per: time.Millisecond},
		"1/24h":        {N: 1, Per: 24 * time.Hour},
		"1000/1ms":     {N: 1000, Per: time.Millisecond}, // exactly one start per microsecond
		"3/1m30s":      {N: 3, Per: 90 * time.Second},
		"2/hour":       {N: 2, Per: time.Hour},
		"2/second":     {N: 2, Per: time.Second},
		"2/sec":        {N: 2, Per: time.Second},
		"2/minute":     {N: 2, Per: time.Minute},
	} {
		got, err := limits.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"0/s":          "from 1 to 1000000000",
		"1000000001/h": "from 1 to 1000000000",
		"1/999us":      "the period must be from 1ms to 24h0m0s",
		"1/24h0m1s":    "the period must be from 1ms to 24h0m0s",
		"1001/1ms":     "more than one start per microsecond",
	} {
		if _, err := limits.ParseRate(in); !errors.Is(err, limits.ErrBadLimit) || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseRate(%q) error = %v; want ErrBadLimit saying %q", in, err, msg)
		}
	}
}

// Rate.String writes the named units and any other period as a duration;
// Interval is the period divided by the count.
func TestRateStringAndInterval(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r        limits.Rate
		s        string
		interval time.Duration
	}{
		{limits.Rate{N: 100, Per: time.Second}, "100/s", 10 * time.Millisecond},
		{limits.Rate{N: 5, Per: time.Minute}, "5/m", 12 * time.Second},
		{limits.Rate{N: 2, Per: time.Hour}, "2/h", 30 * time.Minute},
		{limits.Rate{N: 3, Per: 90 * time.Second}, "3/1m30s", 30 * time.Second},
	} {
		if got := c.r.String(); got != c.s {
			t.Errorf("%+v.String() = %q; want %q", c.r, got, c.s)
		}
		if got := c.r.Interval(); got != c.interval {
			t.Errorf("%+v.Interval() = %s; want %s", c.r, got, c.interval)
		}
	}
	if s := (limits.Rate{}).String(); s != "" {
		t.Errorf("zero Rate String() = %q; want empty", s)
	}
}

// The optional integers: 1 to their bound, empty for none.
func TestParseOptionalIntegers(t *testing.T) {
	t.Parallel()
	ok := []limits.Raw{
		{Name: "n", Type: "x", Concurrency: "1"},
		{Name: "n", Type: "x", Concurrency: "1000000"},
		{Name: "n", Type: "x", Rate: "1/s", Burst: "1000000000"},
		{Name: "n", Type: "x", Concurrency: "1", Key: "payload.a", MaxKeys: "10000000"},
		{Name: "n", Type: "x", Concurrency: " 2 "},
		{Name: strings.Repeat("n", 64), Queue: "q", Concurrency: "1"},
		{Name: "n", Type: "report:*", Concurrency: "1"},
		{Name: "n", Type: "*", Concurrency: "1"},
	}
	for _, r := range ok {
		if _, err := limits.Parse(r); err != nil {
			t.Errorf("Parse(%+v): %v; want accepted", r, err)
		}
	}
	for _, c := range []struct {
		raw  limits.Raw
		want string
	}{
		{limits.Raw{Name: "n", Type: "x", Concurrency: "1000001"}, `concurrency "1000001": must be a whole number from 1 to 1000000`},
		{limits.Raw{Name: "n", Type: "x", Rate: "1/s", Burst: "0"}, `burst "0": must be a whole number from 1`},
		{limits.Raw{Name: "n", Type: "x", Concurrency: "1", Key: "payload.a", MaxKeys: "10000001"}, `max_keys "10000001"`},
		{limits.Raw{Name: strings.Repeat("n", 65), Type: "x", Concurrency: "1"}, `.name "nnn`},
		{limits.Raw{Name: "n", Type: "*x", Concurrency: "1"}, `'*' may only end a pattern`},
		{limits.Raw{Name: "n", Type: "x", Concurrency: "1", Key: "payload."}, `key "payload."`},
		{limits.Raw{Name: "n", Type: "x", Concurrency: "1", Key: "payload.a..b"}, `key "payload.a..b"`},
		{limits.Raw{Name: "n", Type: "x", Concurrency: "1", Key: "header."}, `key "header."`},
	} {
		if _, err := limits.Parse(c.raw); !errors.Is(err, limits.ErrBadLimit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%+v) = %v; want ErrBadLimit containing %q", c.raw, err, c.want)
		}
	}
}

// Raw writes only what is set, so that Parse(Raw()) is the limit again.
func TestRawOmitsUnset(t *testing.T) {
	t.Parallel()
	r := limits.Limit{Name: "n", Type: "x", Concurrency: 1}.Raw()
	if r != (limits.Raw{Name: "n", Type: "x", Concurrency: "1"}) {
		t.Errorf("Raw() = %+v; want only name, type and concurrency", r)
	}
	r = limits.Limit{Name: "n", Type: "x", Rate: limits.Rate{N: 1, Per: time.Second}, Burst: 1, Key: "header.k", MaxKeys: 1}.Raw()
	if r != (limits.Raw{Name: "n", Type: "x", Rate: "1/s", Burst: "1", Key: "header.k", MaxKeys: "1"}) {
		t.Errorf("Raw() = %+v", r)
	}
}

// An exact type matches that type only.
func TestMatchesExactType(t *testing.T) {
	t.Parallel()
	l := limits.Limit{Type: "report:build"}
	if !l.Matches("report:build", "q") || l.Matches("report:build2", "q") || l.Matches("report", "q") {
		t.Error("an exact type matches other types, or not its own")
	}
	if !(limits.Limit{Type: "*"}).Matches("anything", "") {
		t.Error("* does not match every type")
	}
}
