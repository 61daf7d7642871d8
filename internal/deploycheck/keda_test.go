package deploycheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tuskq/tuskq/internal/redistest"
)

// TestHelmKEDAQueriesMatchMetrics renders the ScaledObject and checks its
// queries against the metrics the monitor really exports: asynq's queue
// collector (the monitor registers it) gathered over a real Redis holding
// a pending and a scheduled task in a queue whose name has a dot, and the
// monitor's own tuskq_monitor_redis_up.
func TestHelmKEDAQueriesMatchMetrics(t *testing.T) {
	t.Parallel()
	objs := parse(t, mustTemplate(t, "-f", "testdata/helm/keda-image.yaml"))
	so := find(t, objs, "ScaledObject", "tq-tuskq-worker")
	if got := str(dig(so, "spec", "scaleTargetRef", "name")); got != "tq-tuskq-worker" {
		t.Errorf("scaleTargetRef %q, want the worker Deployment", got)
	}
	if r := dig(find(t, objs, "Deployment", "tq-tuskq-worker"), "spec", "replicas"); r != nil {
		t.Errorf("the worker Deployment sets replicas %v while KEDA owns the count", r)
	}
	if str(dig(so, "spec", "minReplicaCount")) != "0" {
		t.Errorf("minReplicaCount %v, want 0 from the values", dig(so, "spec", "minReplicaCount"))
	}
	queries := map[string]string{}
	for _, tr := range list(dig(so, "spec", "triggers")) {
		name := str(dig(tr, "name"))
		queries[name] = str(dig(tr, "metadata", "query"))
		// No result must be an error for KEDA, never a zero.
		if str(dig(tr, "metadata", "ignoreNullValues")) != "false" {
			t.Errorf("trigger %s: ignoreNullValues %v, want \"false\"", name, dig(tr, "metadata", "ignoreNullValues"))
		}
	}
	if len(queries) != 3 {
		t.Fatalf("triggers %v, want backlog, delayed and latency", queries)
	}
	for name, states := range map[string]string{"backlog": `state=~"pending|active"`, "delayed": `state=~"scheduled|retry"`} {
		q := queries[name]
		if !strings.Contains(q, states) || !strings.Contains(q, `and on() (max(tuskq_monitor_redis_up{namespace="tuskq",job="tq-tuskq-monitor"}) == 1)`) {
			t.Errorf("trigger %s: query %s", name, q)
		}
	}

	// What the monitor exports, over a real Redis.
	srv := redistest.Start(t)
	opt := asynq.RedisClientOpt{Addr: srv.Addr()}
	client := asynq.NewClient(opt)
	defer client.Close()
	for _, o := range [][]asynq.Option{{asynq.Queue("email.send")}, {asynq.Queue("email.send"), asynq.ProcessIn(time.Hour)}} {
		if _, err := client.Enqueue(asynq.NewTask("email:send", nil), o...); err != nil {
			t.Fatal(err)
		}
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewQueueMetricsCollector(insp))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]*dto.MetricFamily{}
	for _, f := range families {
		exported[f.GetName()] = f
	}
	source, err := os.ReadFile(filepath.Join(root, "internal/monitor/metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range queries {
		for _, m := range regexp.MustCompile(`([a-z_]+)\{([^}]*)\}`).FindAllStringSubmatch(q, -1) {
			metric, matchers := m[1], m[2]
			if metric == "tuskq_monitor_redis_up" {
				if !strings.Contains(string(source), `"tuskq_monitor_redis_up"`) {
					t.Errorf("trigger %s: the monitor exports no tuskq_monitor_redis_up", name)
				}
				continue
			}
			f, ok := exported[metric]
			if !ok {
				t.Errorf("trigger %s: %s is not among the monitor's queue metrics", name, metric)
				continue
			}
			// The queue matcher (a PromQL raw string: RE2, anchored, as Go's
			// regexp) selects the dotted queue and nothing else.
			qm := regexp.MustCompile("queue=~`([^`]*)`").FindStringSubmatch(matchers)
			if qm == nil {
				t.Errorf("trigger %s: no queue matcher in %s", name, matchers)
				continue
			}
			re := regexp.MustCompile("^(?:" + qm[1] + ")$")
			if !re.MatchString("email.send") || re.MatchString("emailxsend") || re.MatchString("default") {
				t.Errorf("trigger %s: queue regexp %q", name, qm[1])
			}
			// The states the query counts have the tasks enqueued above.
			want := map[string]float64{"backlog": 1, "delayed": 1, "latency": -1}[name]
			var sum float64
			for _, s := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range s.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if _, ok := labels["queue"]; !ok {
					t.Errorf("%s has no queue label", metric)
				}
				st, hasState := labels["state"]
				if hasState && re.MatchString(labels["queue"]) && slices.Contains([]string{"pending", "active", "scheduled", "retry"}, st) &&
					strings.Contains(matchers, st) {
					sum += s.GetGauge().GetValue()
				}
			}
			if want >= 0 && sum != want {
				t.Errorf("trigger %s: %s counts %v tasks, want %v", name, metric, sum, want)
			}
		}
	}
}
