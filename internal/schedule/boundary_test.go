package schedule_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/schedule"
)

// Unknown fields: a near miss (two edits at most, and fewer edits than half
// its length) gets a suggestion, anything else the list of fields.
func TestUnknownFieldSuggestion(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ field, want string }{
		{"Cron", `unknown field (did you mean "cron"?)`},          // same word, other case
		{"jittre", `unknown field (did you mean "jitter"?)`},      // two edits, 6 bytes
		{"crxx", `unknown field; the fields are cron, time_zone`}, // two edits in 4 bytes: too far
		{"zzzzzz", `unknown field; the fields are cron, time_zone`},
	} {
		_, ps := schedule.Decode("n", []byte(`{"cron":"@hourly","type":"x","`+c.field+`":1}`), "")
		if len(ps) != 1 || ps[0].Field != c.field || !strings.HasPrefix(ps[0].Detail, c.want) {
			t.Errorf("field %q: problems %v; want one on %s starting %q", c.field, ps, c.field, c.want)
		}
	}
}

// An empty body and a body that is not JSON get different messages.
func TestDecodeEmptyAndSyntax(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ body, want, notWant string }{
		{"  ", "body: empty; send a JSON object such as", "offset"},
		{`{"cron":`, "body:", "empty"},
	} {
		_, ps := schedule.Decode("n", []byte(c.body), "")
		if got := ps.Error(); !strings.Contains(got, c.want) || strings.Contains(got, c.notWant) {
			t.Errorf("Decode(%q) = %q; want %q and not %q", c.body, got, c.want, c.notWant)
		}
	}
}

// jitter takes 0 to MaxJitter inclusive.
func TestJitterRange(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		jitter string
		ok     bool
	}{{"0s", true}, {"1h", true}, {"-1s", false}, {"1h0m1s", false}} {
		s, ps := schedule.Decode("n", []byte(`{"cron":"@hourly","type":"x","jitter":"`+c.jitter+`"}`), "")
		if (len(ps) == 0) != c.ok {
			t.Errorf("jitter %s: problems %v; want accepted %v", c.jitter, ps, c.ok)
			continue
		}
		if want, _ := time.ParseDuration(c.jitter); c.ok && s.Jitter != want {
			t.Errorf("jitter %s decoded as %s", c.jitter, s.Jitter)
		}
	}
}

// The encoding leaves out what was not given (no jitter, no payload) and
// keeps a payload that is not JSON as payload_base64.
func TestMarshalOmits(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in            string
		want, notWant []string
	}{
		{`{"cron":"@hourly","type":"x"}`, []string{`"time_zone":"UTC"`, `"missed":"skip"`, `"overlap":"allow"`},
			[]string{"jitter", "payload", "queue", "max_retry", "timeout", "unique", "retention", "headers"}},
		{`{"cron":"@hourly","type":"x","jitter":"0s"}`, nil, []string{"jitter"}},
		{`{"cron":"@hourly","type":"x","payload_base64":"AAEC"}`, []string{`"payload_base64":"AAEC"`}, []string{`"payload":`}},
		{`{"cron":"@hourly","type":"x","payload":[1]}`, []string{`"payload":[1]`}, []string{"payload_base64"}},
	} {
		out, err := json.Marshal(mustDecode(t, "n", c.in))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s encodes as %s: lacks %s", c.in, out, w)
			}
		}
		for _, w := range c.notWant {
			if strings.Contains(string(out), w) {
				t.Errorf("%s encodes as %s: has %s", c.in, out, w)
			}
		}
	}
}

// @every ticks strictly after the time given, from the epoch on.
func TestEveryFromEpoch(t *testing.T) {
	t.Parallel()
	s := mustDecode(t, "e", `{"cron":"@every 10s","type":"x"}`)
	for _, c := range []struct{ at, want int64 }{{-25, 0}, {-1, 0}, {0, 10}, {9, 10}, {10, 20}} {
		if got := s.Next(time.Unix(c.at, 0)).Unix(); got != c.want {
			t.Errorf("Next(%d) = %d; want %d", c.at, got, c.want)
		}
	}
}

// A tick exactly Grace old is missed: a new schedule asked at a whole
// second runs that second's tick only, not the previous one.
func TestGraceIsExclusive(t *testing.T) {
	t.Parallel()
	s := mustDecode(t, "g", `{"cron":"@every 1s","type":"x"}`)
	now := time.Unix(1_000_000, 0)
	if p := s.PlanTicks(time.Time{}, now); jsonOf(ticks(p)) != "[1000000]" || !p.Through.Equal(now) {
		t.Errorf("new schedule at %d: ticks %s through %d; want [1000000] through 1000000", now.Unix(), jsonOf(ticks(p)), p.Through.Unix())
	}
	// The same with a last tick: 999999 is missed (dropped under skip).
	if p := s.PlanTicks(time.Unix(999_998, 0), now); jsonOf(ticks(p)) != "[1000000]" || p.Dropped != 1 {
		t.Errorf("after 999998 at %d: ticks %s, %d dropped; want [1000000], 1 dropped", now.Unix(), jsonOf(ticks(p)), p.Dropped)
	}
}

// Past maxWalk ticks, Plan estimates the ticks it jumps over; for a
// schedule of a fixed interval the estimate is the exact count, and a
// century of one-second ticks is planned at once instead of walked.
func TestPlanLongOutage(t *testing.T) {
	t.Parallel()
	a := mustDecode(t, "p", `{"cron":"@every 1s","type":"x","missed":"all"}`)
	base := time.Unix(1_000_000, 0)
	for _, span := range []time.Duration{365 * 24 * time.Hour, 100 * 365 * 24 * time.Hour} {
		done := make(chan schedule.Plan, 1)
		go func() { done <- a.PlanTicks(base, base.Add(span)) }()
		var p schedule.Plan
		select {
		case p = <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("planning %s of one-second ticks took over a minute: it walks every tick", span)
		}
		total := int(span / time.Second)
		// The newest tick is on time; MaxCatchUp missed ones are enqueued.
		if len(p.Ticks) != schedule.MaxCatchUp+1 || p.Dropped != total-1-schedule.MaxCatchUp {
			t.Errorf("after %s: %d ticks, %d dropped; want %d, %d", span, len(p.Ticks), p.Dropped, schedule.MaxCatchUp+1, total-1-schedule.MaxCatchUp)
		}
		want := base.Add(span).Unix() - schedule.MaxCatchUp
		if got := p.Ticks[0].At.Unix(); got != want || !p.Through.Equal(base.Add(span)) {
			t.Errorf("after %s: oldest catch-up tick %d through %d; want %d through %d", span, got, p.Through.Unix(), want, base.Add(span).Unix())
		}
	}
}

// A name is 1 to MaxNameLength bytes of letters, digits, '.', '_' and '-'.
func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"azAZ09._-", "a", "Z", "0", "9", strings.Repeat("n", schedule.MaxNameLength)} {
		if msg := schedule.CheckName(ok); msg != "" {
			t.Errorf("CheckName(%q) = %q; want accepted", ok, msg)
		}
	}
	for _, c := range []struct{ name, want string }{
		{"", "the schedule name is empty"},
		{strings.Repeat("n", schedule.MaxNameLength+1), "is 101 bytes long; the limit is 100"},
		// The neighbours of each accepted range.
		{"a`", "'`'"}, {"a{", "'{'"}, {"a@", "'@'"}, {"a[", "'['"}, {"a/", "'/'"}, {"a:", "':'"},
		{"a b", "' '"}, {"a,", "','"}, {"é", "'é'"},
	} {
		if msg := schedule.CheckName(c.name); !strings.Contains(msg, c.want) {
			t.Errorf("CheckName(%q) = %q; want it to contain %q", c.name, msg, c.want)
		}
	}
}

// The cron specs refused, each with what to write instead, and the limits
// of @every.
func TestParseCronLimits(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"@every 1s", "@every 8784h", "@every 90s", " @hourly "} {
		if _, err := schedule.ParseCron(ok, time.UTC); err != nil {
			t.Errorf("ParseCron(%q): %v; want accepted", ok, err)
		}
	}
	for _, c := range []struct{ spec, want string }{
		{"  ", "the cron spec is empty"},
		{"@every soon", "@every takes a duration"},
		{"@every 0s", "whole seconds, at least 1s"},
		{"@every 999ms", "whole seconds, at least 1s"},
		{"@every 1500ms", "whole seconds, at least 1s"},
		{"@every 8784h1s", "at most 8784h"},
		{"TZ=UTC @hourly", "set time_zone instead"},
	} {
		_, err := schedule.ParseCron(c.spec, time.UTC)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseCron(%q) = %v; want an error containing %q", c.spec, err, c.want)
		}
	}
}
