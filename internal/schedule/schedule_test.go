package schedule_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/schedule"
)

func mustDecode(t *testing.T, name, js string) *schedule.Schedule {
	t.Helper()
	s, ps := schedule.Decode(name, []byte(js), "")
	if len(ps) > 0 {
		t.Fatalf("Decode(%s): %v", js, ps)
	}
	return s
}

// TestDST pins the daylight-saving rule documented in the package: a
// wall-clock time that does not exist does not tick that day, and one that
// occurs twice ticks once, at its first occurrence.
func TestDST(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	utc := func(s string) string { return s }
	cases := []struct {
		spec, from string
		want       []string // UTC
	}{
		// 29 March 2026: 02:00 CET jumps to 03:00 CEST; no 02:30 that day.
		{"0 30 2 * * *", "2026-03-28T12:00:00Z", []string{"2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"}},
		// 01:30 CET is followed by 03:30 CEST.
		{"0 30 * * * *", "2026-03-29T00:00:00Z", []string{"2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"}},
		// 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 occurs
		// twice (00:30 and 01:30 UTC) and ticks at the first only.
		{"0 30 2 * * *", "2026-10-24T12:00:00Z", []string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"0 30 * * * *", "2026-10-24T23:00:00Z", []string{"2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z"}},
	}
	for _, c := range cases {
		s := mustDecode(t, "dst", `{"cron":"`+c.spec+`","time_zone":"Europe/Paris","type":"x"}`)
		at, _ := time.Parse(time.RFC3339, c.from)
		at = at.In(paris)
		var got []string
		for range c.want {
			at = s.Next(at)
			got = append(got, at.UTC().Format(time.RFC3339))
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s from %s: ticks %v, want %v", c.spec, c.from, got, utc(strings.Join(c.want, " ")))
		}
	}
}

func TestEveryIsAligned(t *testing.T) {
	t.Parallel()
	s := mustDecode(t, "e", `{"cron":"@every 10s","type":"x"}`)
	got := s.Next(time.Unix(1_000_003, 500))
	if got.Unix() != 1_000_010 {
		t.Fatalf("Next = %d, want 1000010 (a multiple of 10s since the epoch)", got.Unix())
	}
	h := mustDecode(t, "h", `{"cron":"@hourly","type":"x"}`)
	if got := h.Next(time.Date(2026, 1, 1, 10, 5, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("@hourly Next = %v", got)
	}
	sec := mustDecode(t, "s", `{"cron":"*/15 * * * * *","type":"x"}`)
	if got := sec.Next(time.Date(2026, 1, 1, 10, 5, 1, 0, time.UTC)); got.Second() != 15 {
		t.Fatalf("seconds field: Next = %v", got)
	}
}

func TestDecodeProblems(t *testing.T) {
	t.Parallel()
	cases := []struct{ js, want string }{
		{`{"type":"x"}`, `schedules.n.cron: missing; every schedule needs a cron spec`},
		{`{"cron":"* * *","type":"x"}`, `schedules.n.cron: "* * *": expected 5 to 6 fields`},
		{`{"cron":"@every 500ms","type":"x"}`, `schedules.n.cron: "@every 500ms": the @every duration must be whole seconds, at least 1s`},
		{`{"cron":"CRON_TZ=UTC * * * * *","type":"x"}`, `set time_zone instead`},
		{`{"cron":"0 0 0 30 2 *","type":"x"}`, `never matches a date`},
		{`{"cron":"@hourly","type":"x","time_zone":"Mars/Base"}`, `schedules.n.time_zone: "Mars/Base" is not an IANA time zone`},
		{`{"cron":"@hourly","type":"x","missed":"some"}`, `schedules.n.missed: "some" is not a missed-tick policy; use skip (the default), once or all`},
		{`{"cron":"@hourly","type":"x","overlap":"no"}`, `schedules.n.overlap: "no" is not an overlap policy`},
		{`{"cron":"@hourly","type":"x","jitter":"2h"}`, `schedules.n.jitter: 2h0m0s is out of range`},
		{`{"cron":"@hourly","type":"x","id":"a"}`, `schedules.n.id: not accepted in a schedule`},
		{`{"cron":"@hourly","type":"x","delay":"1s"}`, `schedules.n.delay: not accepted in a schedule`},
		{`{"cron":"@hourly","type":"x","crn":"a"}`, `schedules.n.crn: unknown field (did you mean "cron"?)`},
		{`{"cron":"@hourly"}`, `schedules.n.type: missing`},
		{`{"cron":"@hourly","type":"x","max_retry":-1}`, `schedules.n.max_retry:`},
		{`{"cron":"@hourly","type":"x","timeout":"forever"}`, `schedules.n.timeout: "forever" is not a duration`},
		{`[]`, `schedules.n: expected a JSON object`},
		{`{"cron":"@hourly","cron":"@daily","type":"x"}`, `schedules.n.cron: appears twice`},
	}
	for _, c := range cases {
		_, ps := schedule.Decode("n", []byte(c.js), "schedules.n.")
		if !strings.Contains(ps.Error(), c.want) {
			t.Errorf("Decode(%s) = %q, want it to contain %q", c.js, ps.Error(), c.want)
		}
	}
	if _, ps := schedule.Decode("a:b", []byte(`{"cron":"@hourly","type":"x"}`), ""); !strings.Contains(ps.Error(), `name: "a:b" has the character ':'`) {
		t.Errorf("bad name: %v", ps)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"cron":"0 30 2 * * *","time_zone":"Europe/Paris","jitter":"10s","missed":"once","overlap":"skip",` +
		`"type":"report:nightly","payload":{"full":true},"queue":"low","max_retry":3,"timeout":"10m","retention":"1h","unique":"1m","headers":{"team":"ops"}}`
	s := mustDecode(t, "nightly", in)
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	s2 := mustDecode(t, "nightly", string(out))
	out2, _ := json.Marshal(s2)
	if string(out) != string(out2) {
		t.Fatalf("not stable:\n%s\n%s", out, out2)
	}
	for _, want := range []string{`"missed":"once"`, `"overlap":"skip"`, `"payload":{"full":true}`, `"queue":"low"`, `"max_retry":3`, `"jitter":"10s"`, `"time_zone":"Europe/Paris"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s lacks %s", out, want)
		}
	}
}

func ticks(p schedule.Plan) []int64 {
	var out []int64
	for _, t := range p.Ticks {
		out = append(out, t.At.Unix())
	}
	return out
}

// TestPlanPolicies drives the missed-tick policies with a clock of its own.
func TestPlanPolicies(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_000_000, 0)
	for _, c := range []struct {
		missed  string
		want    string
		dropped int
	}{
		// Ticks 1..10 after last; now is 10.3s later: tick 10 is on time
		// (within its 1s grace), 1..9 are missed.
		{"skip", "[1000010]", 9},
		{"once", "[1000009 1000010]", 8},
		{"all", "[1000001 1000002 1000003 1000004 1000005 1000006 1000007 1000008 1000009 1000010]", 0},
	} {
		s := mustDecode(t, "p", `{"cron":"@every 1s","type":"x","missed":"`+c.missed+`"}`)
		p := s.PlanTicks(base, base.Add(10300*time.Millisecond))
		if got := strings.Trim(strings.ReplaceAll(jsonOf(ticks(p)), ",", " "), ""); got != c.want {
			t.Errorf("%s: ticks %s, want %s", c.missed, got, c.want)
		}
		if p.Dropped != c.dropped || p.Through.Unix() != 1_000_010 {
			t.Errorf("%s: dropped %d through %d, want %d through 1000010", c.missed, p.Dropped, p.Through.Unix(), c.dropped)
		}
		if c.missed == "once" && (p.Ticks[0].Missed != 9 || !p.Ticks[0].Late || p.Ticks[1].Late) {
			t.Errorf("once: catch-up tick %+v", p.Ticks[0])
		}
	}
	// On time: nothing missed, one tick.
	s := mustDecode(t, "p", `{"cron":"@every 1s","type":"x"}`)
	if p := s.PlanTicks(base, base.Add(1200*time.Millisecond)); len(p.Ticks) != 1 || p.Dropped != 0 {
		t.Errorf("on time: %+v", p)
	}
	// Nothing due yet.
	if p := s.PlanTicks(base, base.Add(900*time.Millisecond)); len(p.Ticks) != 0 || !p.Through.IsZero() {
		t.Errorf("not due: %+v", p)
	}
	// A new schedule (no last tick) only runs on-time ticks.
	if p := s.PlanTicks(time.Time{}, base.Add(300*time.Millisecond)); jsonOf(ticks(p)) != "[1000000]" || p.Dropped != 0 {
		t.Errorf("new: %+v", p)
	}
	// all is bounded by MaxCatchUp.
	a := mustDecode(t, "p", `{"cron":"@every 1s","type":"x","missed":"all"}`)
	p := a.PlanTicks(base, base.Add(time.Hour))
	if len(p.Ticks) != schedule.MaxCatchUp+1 || p.Dropped != 3600-1-schedule.MaxCatchUp {
		t.Errorf("all after an hour: %d ticks, %d dropped", len(p.Ticks), p.Dropped)
	}
	// A year of one-second ticks is planned without walking every tick.
	start := time.Now()
	p = a.PlanTicks(base, base.Add(365*24*time.Hour))
	if len(p.Ticks) != schedule.MaxCatchUp+1 || p.Dropped < 31_000_000 || time.Since(start) > 30*time.Second {
		t.Errorf("all after a year: %d ticks, %d dropped in %s", len(p.Ticks), p.Dropped, time.Since(start))
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
