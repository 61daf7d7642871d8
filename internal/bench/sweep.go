package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tuskq/tuskq/worker"
)

// DefaultSweepIntervals are the idle poll intervals (worker
// task_check_interval) the sweep phase measures.
var DefaultSweepIntervals = []time.Duration{
	5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// sweepQueues are the queue sets of the sweep: one queue, and tuskq's
// default three.
var sweepQueues = []map[string]int{
	{"default": 1},
	{"critical": 6, "default": 3, "low": 1},
}

// SweepTargets returns the tuskq worker at its defaults but for the idle
// poll interval and the queues: one target per interval and queue set.
func SweepTargets(intervals []time.Duration) []Target {
	var out []Target
	for _, queues := range sweepQueues {
		for _, d := range intervals {
			cfg := TuskqDefaults(0)
			cfg.Worker.Queues = queues
			cfg.Worker.TaskCheckInterval = d
			out = append(out, TuskqWorker(sweepKey(len(queues), d),
				fmt.Sprintf("tuskq, %d queue(s), poll %s", len(queues), d), cfg))
		}
	}
	return out
}

func sweepKey(queues int, d time.Duration) string {
	return fmt.Sprintf("tuskq-q%d-%s", queues, strings.ToLower(d.String()))
}

// runSweep measures pickup latency and idle cost over the poll intervals,
// with one queue and with three.
func runSweep(ctx context.Context, env *Env, opts Options) (Section, error) {
	targets := SweepTargets(opts.SweepIntervals)
	rows, err := latencyRounds(ctx, env, opts, "sweep", targets, opts.SweepTasks)
	if err != nil {
		return Section{}, err
	}
	sec := Section{
		Key:   PhaseSweep,
		Title: "Pickup latency and idle cost against the idle poll interval",
		About: latencyAbout(opts, opts.SweepTasks) + fmt.Sprintf(` Each target is the tuskq worker at config.Default() (%d asynq servers, concurrency %d) with worker.task_check_interval and worker.queues changed; with several queues all tasks go to "default". The summary below gives the medians.`,
			worker.DefaultServers, TuskqDefaults(0).Worker.Concurrency),
		Rows: rows,
	}
	var b strings.Builder
	b.WriteString("| poll interval | queues | pickup p50 (ms) | pickup p99 (ms) | idle Redis commands/s | idle Redis CPU (% of a core) |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|\n")
	for _, queues := range sweepQueues {
		for _, d := range opts.SweepIntervals {
			key := sweepKey(len(queues), d)
			cell := func(metric string, decimals int) string {
				if r := sec.row(key, metric); r != nil {
					return Format(r.Median, decimals)
				}
				return "–"
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", d, len(queues),
				cell(MetricP50, 1), cell(MetricP99, 1), cell(MetricIdleCmds, 0), cell(MetricIdleCPU, 2))
		}
	}
	sec.Summary = b.String()
	return sec, nil
}
