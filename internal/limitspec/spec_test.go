package limitspec_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/limitspec"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	good := map[string]limitspec.Rate{
		"100/s":  {N: 100, Per: time.Second},
		"50/m":   {N: 50, Per: time.Minute},
		"10/h":   {N: 10, Per: time.Hour},
		"7/min":  {N: 7, Per: time.Minute},
		"7 / 1m": {N: 7, Per: time.Minute},
		"5/10s":  {N: 5, Per: 10 * time.Second},
	}
	for in, want := range good {
		got, err := limitspec.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "100", "0/s", "-1/s", "x/s", "1/0s", "1/fortnight", "1000000001/s", "1/48h", "2000/1ms"} {
		if _, err := limitspec.ParseRate(in); !errors.Is(err, limitspec.ErrBadLimit) {
			t.Errorf("ParseRate(%q) error = %v; want ErrBadLimit", in, err)
		}
	}
}

// FuzzParseRate: any input parses or fails with ErrBadLimit, never
// panics, and a parsed rate written back parses to itself.
func FuzzParseRate(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		r, err := limitspec.ParseRate(s)
		if err != nil {
			if !errors.Is(err, limitspec.ErrBadLimit) {
				t.Fatalf("ParseRate(%q) error %v does not wrap ErrBadLimit", s, err)
			}
			return
		}
		if r.N < 1 || r.Per <= 0 || r.Interval() <= 0 {
			t.Fatalf("ParseRate(%q) = %+v", s, r)
		}
		back, err := limitspec.ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %+v; written %q, read back %+v, %v", s, r, r.String(), back, err)
		}
	})
}

func TestParseErrorsNameTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw  limitspec.Raw
		want string
	}{
		{limitspec.Raw{Name: "a b", Type: "x", Concurrency: "1"}, `limits[a b].name "a b": use 1 to 64`},
		{limitspec.Raw{Name: "n", Concurrency: "1"}, "limits[n]: set type"},
		{limitspec.Raw{Name: "n", Type: "a*b", Concurrency: "1"}, `limits[n].type "a*b"`},
		{limitspec.Raw{Name: "n", Type: "x"}, "limits[n]: set concurrency"},
		{limitspec.Raw{Name: "n", Type: "x", Concurrency: "0"}, `limits[n].concurrency "0": must be a whole number`},
		{limitspec.Raw{Name: "n", Type: "x", Rate: "fast"}, `limits[n].rate: bad limit: rate "fast"`},
		{limitspec.Raw{Name: "n", Type: "x", Concurrency: "1", Burst: "3"}, "limits[n].burst is set without a rate"},
		{limitspec.Raw{Name: "n", Type: "x", Concurrency: "1", Key: "body.id"}, `limits[n].key "body.id"`},
		{limitspec.Raw{Name: "n", Type: "x", Concurrency: "1", MaxKeys: "5"}, "limits[n].max_keys is set without a key"},
	}
	for _, c := range cases {
		_, err := limitspec.Parse(c.raw)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%+v) = %v; want an error containing %q", c.raw, err, c.want)
		}
	}
	l, err := limitspec.Parse(limitspec.Raw{Name: "p", Type: "pay:*", Queue: "q", Rate: "100/s", Burst: "5", Key: "header.X-Tenant", MaxKeys: "7", Concurrency: "3"})
	if err != nil {
		t.Fatal(err)
	}
	if back, err := limitspec.Parse(l.Raw()); err != nil || back != l {
		t.Fatalf("Parse(Raw()) = %+v, %v; want %+v", back, err, l)
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	l := limitspec.Limit{Type: "report:*", Queue: "low"}
	for _, c := range []struct {
		typ, queue string
		want       bool
	}{
		{"report:build", "low", true},
		{"report:build", "default", false},
		{"reports", "low", false},
	} {
		if got := l.Matches(c.typ, c.queue); got != c.want {
			t.Errorf("Matches(%q, %q) = %v; want %v", c.typ, c.queue, got, c.want)
		}
	}
	if !(limitspec.Limit{Queue: "low"}).Matches("anything", "low") {
		t.Error("a queue limit does not match a task of its queue")
	}
}

// TestKeyValueByHost: a limit keyed host(payload.url) puts the tasks
// calling one host (and port) under one key whatever the path, scheme
// case or query, and different hosts under different keys; a task with
// no URL or a relative one has NoKey.
func TestKeyValueByHost(t *testing.T) {
	t.Parallel()
	l, err := limitspec.Parse(limitspec.Raw{Name: "hosts", Type: "http:request", Rate: "10/s", Key: "host(payload.url)"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ payload, want string }{
		{`{"url":"https://API.example.com/v1/a?x=1"}`, "api.example.com"},
		{`{"url":"https://api.example.com/other"}`, "api.example.com"},
		{`{"url":"http://127.0.0.1:8080/hook"}`, "127.0.0.1:8080"},
		{`{"url":"https://pay.example.net/"}`, "pay.example.net"},
		{`{"url":"/relative"}`, limitspec.NoKey},
		{`{"method":"GET"}`, limitspec.NoKey},
	} {
		if got := l.KeyValue([]byte(c.payload), nil); got != c.want {
			t.Errorf("KeyValue(%s) = %q; want %q", c.payload, got, c.want)
		}
	}
	if got := (limitspec.Limit{Key: "host(header.Target)"}).KeyValue(nil, map[string]string{"Target": "https://h.example:444/x"}); got != "h.example:444" {
		t.Errorf("host of a header: %q", got)
	}
	for _, bad := range []string{"host(payload.url", "host()", "host(body.url)"} {
		if _, err := limitspec.Parse(limitspec.Raw{Name: "b", Type: "x", Rate: "1/s", Key: bad}); err == nil {
			t.Errorf("key %q parsed; want an error", bad)
		}
	}
}
