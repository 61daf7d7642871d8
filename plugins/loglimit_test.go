package plugins_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/tasks"
)

// TestPluginLogFlood: a plugin writing thousands of stderr lines at once
// gets its burst into the log and no more; the rest are counted in
// tuskq_plugin_log_lines_dropped_total and reported in one summary
// record. An overlong line is cut and marked.
func TestPluginLogFlood(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	script := "#!/bin/sh\nprintf '%010000d\\n' 0 >&2\ni=0\nwhile [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); done >&2\n"
	writePlugin(t, dir, "flood", "name: flood\nversion: '1'\nruntime: exec\nentry: run.sh\ntask_types: {flood:run: {}}\n",
		map[string]string{"run.sh": script})
	logs := &testutil.LogBuffer{}
	reg := tasks.NewRegistry()
	// One token per 1000 s: nothing refills while the test runs.
	m := startManager(t, plugins.Options{Dir: dir, Registry: reg, Logger: logs.Logger(t, slog.LevelDebug), LogRate: 0.001, LogBurst: 10})
	reg.SetResolver(m)
	prom := prometheus.NewRegistry()
	prom.MustRegister(m.Collector())

	if err := reg.ProcessTask(t.Context(), asynq.NewTask("flood:run", nil)); err != nil {
		t.Fatal(err)
	}
	lines := logs.Records(t, "plugin log")
	if len(lines) != 10 {
		t.Fatalf("%d plugin log records; want the burst of 10", len(lines))
	}
	first := lines[0]
	if l, _ := first["line"].(string); len(l) != 4096 || first["truncated"] != true || first["line_bytes"] != float64(10000) {
		t.Errorf("overlong line: %d bytes, truncated %v, line_bytes %v; want 4096, true, 10000", len(l), first["truncated"], first["line_bytes"])
	}
	if lines[9]["line"] != "line 8" || lines[9]["truncated"] != nil {
		t.Errorf("last logged record %v; want line 8", lines[9])
	}
	sum := logs.Records(t, "plugin log lines dropped")
	if len(sum) != 1 || sum[0]["dropped"] != float64(2991) || sum[0]["plugin"] != "flood" || sum[0]["level"] != "WARN" {
		t.Fatalf("summary records %v; want one warning with dropped=2991", sum)
	}
	want := "# HELP tuskq_plugin_log_lines_dropped_total Plugin stderr lines not logged because the plugin logged faster than its limit.\n" +
		"# TYPE tuskq_plugin_log_lines_dropped_total counter\n" +
		"tuskq_plugin_log_lines_dropped_total{plugin=\"flood\"} 2991\n"
	if err := promtest.GatherAndCompare(prom, strings.NewReader(want), "tuskq_plugin_log_lines_dropped_total"); err != nil {
		t.Error(err)
	}
}
