package enqueuecli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScheduleCommand(t *testing.T) {
	t.Parallel()
	addr, _ := newRedis(t)
	redis := []string{"--set", "redis.addr=" + addr}
	sched := func(args ...string) result {
		return run(t, "", append(append([]string{"schedule"}, args...), redis...)...)
	}

	r := sched("add", "nightly", "--cron", "0 30 2 * * *", "--time-zone", "Europe/Paris", "--missed", "once", "--queue", "low",
		"--max-retry", "3", "--header", "team=ops", "report:nightly", `{"full":true}`)
	if r.code != 0 {
		t.Fatalf("add: exit %d: %s", r.code, r.stderr)
	}
	var view struct {
		Name     string         `json:"name"`
		Source   string         `json:"source"`
		Paused   bool           `json:"paused"`
		Next     string         `json:"next"`
		Schedule map[string]any `json:"schedule"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &view); err != nil || view.Name != "nightly" || view.Source != "api" || view.Next == "" ||
		view.Schedule["missed"] != "once" || view.Schedule["queue"] != "low" || view.Schedule["max_retry"] != 3.0 ||
		view.Schedule["time_zone"] != "Europe/Paris" {
		t.Fatalf("add printed %s (%v)", r.stdout, err)
	}
	if r := sched("pause", "nightly"); r.code != 0 || !strings.Contains(r.stdout, `"paused":true`) {
		t.Fatalf("pause: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := sched("resume", "nightly"); r.code != 0 || !strings.Contains(r.stdout, `"paused":false`) {
		t.Fatalf("resume: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := sched("add", "beat", "--cron", "@every 10s", "ops:beat"); r.code != 0 {
		t.Fatalf("add beat: %d %s", r.code, r.stderr)
	}
	if r := sched("list"); r.code != 0 || strings.Count(r.stdout, "\n") != 2 || !strings.HasPrefix(r.stdout, `{"name":"beat"`) {
		t.Fatalf("list: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := sched("show", "beat"); r.code != 0 || !strings.Contains(r.stdout, `"cron":"@every 10s"`) {
		t.Fatalf("show: %d %s", r.code, r.stdout)
	}
	if r := sched("remove", "beat"); r.code != 0 || r.stdout != `{"name":"beat","removed":true}`+"\n" {
		t.Fatalf("remove: %d %q", r.code, r.stdout)
	}
	if r := sched("show", "beat"); r.code != 1 || r.stderr != "enqueue schedule: beat: no such schedule\n" {
		t.Fatalf("show after remove: %d %q", r.code, r.stderr)
	}
	// Bad input: every problem, named as the command line names it.
	r = sched("add", "x", "--cron", "61 * * * * *", "--missed", "later", "t")
	if r.code != 2 || !strings.Contains(r.stderr, "enqueue schedule: --cron: \"61 * * * * *\": end of range (61) above maximum (59)") ||
		!strings.Contains(r.stderr, `enqueue schedule: --missed: "later" is not a missed-tick policy`) {
		t.Fatalf("bad add: %d %s", r.code, r.stderr)
	}
	if r := sched("add", "x", "t"); r.code != 2 || !strings.Contains(r.stderr, "--cron: missing") {
		t.Fatalf("add without --cron: %d %s", r.code, r.stderr)
	}
	if r := sched("frobnicate"); r.code != 2 || !strings.Contains(r.stderr, `unknown subcommand "frobnicate"`) {
		t.Fatalf("unknown subcommand: %d %s", r.code, r.stderr)
	}
	if r := run(t, "", "schedule", "--help"); r.code != 0 || !strings.Contains(r.stdout, "enqueue schedule add NAME --cron SPEC") {
		t.Fatalf("help: %d %s", r.code, r.stdout)
	}
}
