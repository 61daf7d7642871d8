package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/config"
)

func TestSchedulesSection(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tuskq.yaml")
	yaml := `schedules:
  nightly:
    cron: "0 30 2 * * *"
    time_zone: Europe/Paris
    type: report:nightly
    payload: {full: true, days: [1, 2]}
    queue: low
    missed: once
  beat:
    cron: "@every 30s"
    type: ops:beat
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	// The environment replaces a schedule of the same name whole.
	c, err := config.Load(config.LoadOptions{File: file, Environ: []string{`TUSKQ_SCHEDULES={"beat": {"cron": "@every 1m", "type": "ops:beat2"}}`}})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := c.ParseSchedules()
	if err != nil || len(ss) != 2 {
		t.Fatalf("ParseSchedules = %v, %v", ss, err)
	}
	if ss[0].Name != "beat" || ss[0].Cron != "@every 1m" || ss[0].Task.Type != "ops:beat2" {
		t.Errorf("beat = %+v", ss[0])
	}
	if n := ss[1]; n.Name != "nightly" || n.Missed != "once" || n.TimeZone != "Europe/Paris" || string(n.Task.Payload) != `{"days":[1,2],"full":true}` || n.Task.Options.Queue != "low" {
		t.Errorf("nightly = %+v payload %s", n, n.Task.Payload)
	}
	if !c.Worker.Scheduler {
		t.Error("worker.scheduler is off by default")
	}

	bad := `schedules:
  nightly:
    cron: "0 61 * * *"
    type: report:nightly
    missed: sometimes
    delay: 1s
`
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(config.LoadOptions{File: file})
	if err == nil {
		t.Fatal("a bad schedule loaded")
	}
	for _, want := range []string{
		`schedules.nightly.cron: "0 61 * * *" is not valid; expected "0 61 * * *": end of range (61) above maximum (23)`,
		`schedules.nightly.missed: "sometimes" is not valid; expected "sometimes" is not a missed-tick policy; use skip (the default), once or all`,
		`schedules.nightly.delay: "1s" is not valid; expected not accepted in a schedule`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = config.Load(config.LoadOptions{Environ: []string{`TUSKQ_SCHEDULES=[1]`}})
	if err == nil || !strings.Contains(err.Error(), "TUSKQ_SCHEDULES: schedules: a list is not valid; expected a mapping of schedule name to schedule") {
		t.Errorf("TUSKQ_SCHEDULES=[1]: %v", err)
	}
}
