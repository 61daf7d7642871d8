package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// rows are the headline figures, one value each.
func (r *SoakResult) rows() []Row {
	var s series
	all := Target{Key: "soak", Name: fmt.Sprintf("%d tuskq worker processes", SoakWorkers)}
	s.add(all, MetricThroughput, "tasks/s", 0, r.Throughput)
	s.add(all, "duration of the waves", "s", 1, r.DurationSec)
	for i, w := range r.Workers {
		t := Target{Key: fmt.Sprintf("worker-%d", i+1), Name: w.Name}
		s.add(t, "peak RSS (VmHWM)", "MiB", 1, float64(w.PeakRSS)/(1<<20))
	}
	redis := Target{Key: "redis", Name: "Redis"}
	s.add(redis, "peak used_memory", "MiB", 2, float64(r.RedisPeakUsedMemory)/(1<<20))
	if len(r.Waves) > 0 {
		s.add(redis, "used_memory after the last wave", "MiB", 2, float64(r.Waves[len(r.Waves)-1].RedisUsedMemory)/(1<<20))
	}
	return s.done()
}

// summary is the per-wave table and the growth table, in Markdown.
func (r *SoakResult) summary() string {
	var b strings.Builder
	b.WriteString("| after | tasks | enqueue (s) | enqueue to drained (s) | tasks/s | Redis used_memory (MiB) |")
	for _, w := range r.Workers {
		fmt.Fprintf(&b, " %s RSS (MiB) |", w.Name)
	}
	b.WriteString("\n|---|---:|---:|---:|---:|---:|" + strings.Repeat("---:|", len(r.Workers)) + "\n")
	row := func(label string, w SoakWave) {
		rate, enq, dur := "–", "–", "–"
		if w.DurationSec > 0 {
			rate = Format(float64(w.Tasks)/w.DurationSec, 0)
			enq, dur = Format(w.EnqueueSec, 1), Format(w.DurationSec, 1)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |", label, Format(float64(w.Tasks), 0), enq, dur, rate, mib(w.RedisUsedMemory, 2))
		for _, v := range w.WorkerRSS {
			b.WriteString(" " + mib(v, 1) + " |")
		}
		b.WriteString("\n")
	}
	row("start (idle)", r.Baseline)
	for _, w := range r.Waves {
		row(fmt.Sprintf("wave %d", w.Wave), w)
	}
	if len(r.Growth) > 0 {
		fmt.Fprintf(&b, "\n| wave 2 → wave %d | after wave 2 (MiB) | after wave %d (MiB) | growth (MiB) | growth (%%) | tolerance | verdict |\n|---|---:|---:|---:|---:|---|---|\n",
			len(r.Waves), len(r.Waves))
		for _, g := range r.Growth {
			verdict := "not growing"
			if !g.OK {
				verdict = "**growing**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | < %s MiB or < %.0f %% | %s |\n", g.What, mib(g.From, 2), mib(g.To, 2),
				signed(mib(g.Bytes(), 2)), signed(Format(g.Percent, 1)), mib(g.TolBytes, 0), g.TolPercent, verdict)
		}
	}
	fmt.Fprintf(&b, "\n| worker | pid | peak RSS, VmHWM (MiB) | highest sampled VmRSS (MiB) |\n|---|---:|---:|---:|\n")
	for _, w := range r.Workers {
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", w.Name, w.PID, mib(w.PeakRSS, 1), mib(w.MaxSampledRSS, 1))
	}
	return b.String()
}

// mib formats bytes as MiB.
func mib(v int64, decimals int) string { return Format(float64(v)/(1<<20), decimals) }

// signed prefixes a formatted non-negative number with "+".
func signed(s string) string {
	if strings.HasPrefix(s, "-") {
		return s
	}
	return "+" + s
}

func pidList(ws []SoakWorker) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = strconv.Itoa(w.PID)
	}
	return strings.Join(s, ", ")
}

func rssList(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = mib(v, 1)
	}
	return strings.Join(s, "/")
}
