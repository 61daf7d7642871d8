package faults

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Engines of a fault run.
const (
	EngineTuskq = "tuskq"
	EngineAsynq = "asynq"
)

// NotMeasured marks a duration a scenario does not measure.
const NotMeasured time.Duration = -1

// Result is the outcome of one engine in one scenario.
type Result struct {
	// Scenario and Engine name the run.
	Scenario, Engine string
	Counts
	// Recovery is, after a SIGKILL of a worker, the time from the kill
	// until every task in flight on it that ran again had finished
	// elsewhere; after a
	// Redis fault, the time from Redis being back until a task finished
	// again. NotMeasured when it does not apply or never happened.
	Recovery time.Duration
	// Drained is the time from the end of the fault (the kill, or Redis
	// being back) until the queue held no pending, active, scheduled or
	// retry task.
	Drained time.Duration
	// MaxEnqueueLatency is the longest enqueue in progress during the
	// fault; NotMeasured when it does not apply.
	MaxEnqueueLatency time.Duration
	// Notes are short scenario-specific findings.
	Notes []string
}

// Report collects the results of a test run. It is safe for concurrent
// use.
type Report struct {
	results syncList[Result]
}

// Add records a result.
func (r *Report) Add(res Result) { r.results.add(res) }

// Results returns the results, ordered by the position of their scenario
// in order (unknown scenarios last, by name), tuskq before asynq.
func (r *Report) Results(order []string) []Result {
	out := r.results.all()
	rank := func(s string) int {
		if i := slices.Index(order, s); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(out, func(a, b Result) int {
		if c := rank(a.Scenario) - rank(b.Scenario); c != 0 {
			return c
		}
		if c := strings.Compare(a.Scenario, b.Scenario); c != 0 {
			return c
		}
		return strings.Compare(b.Engine, a.Engine) // tuskq before asynq
	})
	return out
}

// Markdown renders the results as one Markdown table, both engines of a
// scenario on adjacent rows.
func (r *Report) Markdown(order []string) string {
	var b strings.Builder
	b.WriteString("| scenario | engine | acked | enqueue errors | outcome unknown | lost | archived | duplicated | phantom | retries charged | recovery | drained | max enqueue latency | notes |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	prev := ""
	for _, res := range r.Results(order) {
		name := res.Scenario
		if name == prev {
			name = ""
		}
		prev = res.Scenario
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s |\n",
			name, res.Engine, res.Acked, res.Errored, res.Unknown, res.Lost, res.Archived, res.Duplicated,
			res.Phantom, res.Retried, FormatDuration(res.Recovery), FormatDuration(res.Drained),
			FormatDuration(res.MaxEnqueueLatency), strings.Join(res.Notes, "; "))
	}
	return b.String()
}

// FormatDuration renders d for the table: "–" for NotMeasured, whole
// milliseconds below 10 s, tenths of a second above.
func FormatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "–"
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
