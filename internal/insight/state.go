package insight

import (
	"math"
	"time"
)

// Kinds of anomaly.
const (
	// KindErrorRate is a task type failing much more often than its
	// baseline.
	KindErrorRate = "error_rate"
	// KindDuration is a task type whose p95 duration moved well above its
	// baseline.
	KindDuration = "duration_shift"
	// KindThroughput is a queue processing far fewer tasks than its
	// baseline while a backlog waits.
	KindThroughput = "throughput_drop"
	// KindStuck is a queue whose backlog grows while nothing is processed.
	KindStuck = "stuck_queue"
	// KindWorker is one worker failing a task type its peers process.
	KindWorker = "worker_outlier"
	// KindVersion is a plugin version failing more often than the
	// version it replaces.
	KindVersion = "version_regression"
	// KindLatencyTarget is a queue whose forecast wait exceeds its target
	// latency.
	KindLatencyTarget = "latency_target"
)

// Kinds lists every kind, in the order the page shows them.
func Kinds() []string {
	return []string{KindErrorRate, KindDuration, KindThroughput, KindStuck, KindWorker, KindVersion, KindLatencyTarget}
}

// State is what the engine keeps between ticks and replicas: the baselines
// and the anomalies. It is small (a few hundred bytes per series) and is
// stored in Redis as JSON, so every monitor replica shows the same and a
// restart keeps what was learned.
type State struct {
	// Started is when the first tick ran: nothing is reported before
	// Started + Warmup.
	Started time.Time `json:"started"`
	// Series are the baselines per task type and queue, by SeriesKey.String.
	Series map[string]*Baseline `json:"series"`
	// Queues are the baselines per queue.
	Queues map[string]*QueueBaseline `json:"queues"`
	// Active are the anomalies being tracked, pending confirmation or
	// active, by Anomaly.Key.
	Active map[string]*Anomaly `json:"active"`
	// Timeline holds the anomalies raised, newest first, active or
	// resolved (at most timelineLen).
	Timeline []Anomaly `json:"timeline"`
}

// timelineLen bounds State.Timeline.
const timelineLen = 100

// NewState returns an empty state.
func NewState() *State {
	return &State{Series: map[string]*Baseline{}, Queues: map[string]*QueueBaseline{}, Active: map[string]*Anomaly{}}
}

// fill makes the maps of a decoded state usable.
func (s *State) fill() {
	if s.Series == nil {
		s.Series = map[string]*Baseline{}
	}
	if s.Queues == nil {
		s.Queues = map[string]*QueueBaseline{}
	}
	if s.Active == nil {
		s.Active = map[string]*Anomaly{}
	}
}

// SeriesKey identifies a task type on a queue.
type SeriesKey struct {
	Type, Queue string
}

// String is the key's form in State.Series: "queue/type".
func (k SeriesKey) String() string { return k.Queue + "/" + k.Type }

// Baseline is what is normal for one task type on one queue, learned
// online with exponentially weighted moving averages (EWMA):
//
//   - the error rate is the ratio of the EWMAs of failures and of
//     attempts per tick, so quiet ticks weigh nothing and a busy minute
//     weighs by its volume;
//   - the duration is the EWMA of log(p50) and log(p95) of the live
//     window, with the EWMA of the absolute deviation of log(p95) as a
//     robust spread (a mean absolute deviation on the log scale, which
//     unlike a variance one slow outlier cannot blow up).
//
// Every EWMA has the half-life Config.HalfLife. A tick whose value is part
// of an anomaly is not learned, so a baseline never drifts towards the
// trouble it should reveal.
type Baseline struct {
	// Ticks counts the ticks learned from with at least one attempt.
	Ticks int `json:"ticks"`
	// Att and Fail are the EWMAs of attempts and failures per tick.
	Att  float64 `json:"att"`
	Fail float64 `json:"fail"`
	// DurTicks counts the ticks learned from for the duration.
	DurTicks int `json:"dur_ticks"`
	// LogP50 and LogP95 are the EWMAs of ln(seconds) of the window's p50
	// and p95.
	LogP50 float64 `json:"log_p50"`
	LogP95 float64 `json:"log_p95"`
	// DevP95 is the EWMA of |ln(p95) - LogP95|.
	DevP95 float64 `json:"dev_p95"`
}

// ErrorRate is the baseline failure ratio, 0 when nothing was learned.
func (b *Baseline) ErrorRate() float64 {
	if b == nil || b.Att <= 0 {
		return 0
	}
	return b.Fail / b.Att
}

// P50 and P95 are the baseline durations.
func (b *Baseline) P50() time.Duration { return fromLog(b.LogP50) }

// P95 is the baseline p95 duration.
func (b *Baseline) P95() time.Duration { return fromLog(b.LogP95) }

func fromLog(l float64) time.Duration { return time.Duration(math.Exp(l) * float64(time.Second)) }

// QueueBaseline is what is normal for one queue: the EWMA of tasks
// processed per second.
type QueueBaseline struct {
	// Ticks counts the ticks learned from.
	Ticks int `json:"ticks"`
	// Rate is the EWMA of tasks processed per second.
	Rate float64 `json:"rate"`
}

// Anomaly is one thing that went wrong, with what a person needs to act.
type Anomaly struct {
	// Key identifies the anomaly while it lasts: kind, queue, type and
	// subject.
	Key string `json:"key"`
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// TaskType is the task type, empty for a queue anomaly.
	TaskType string `json:"task_type,omitempty"`
	// Queue is the queue.
	Queue string `json:"queue"`
	// Subject is the worker or plugin version singled out, if any.
	Subject string `json:"subject,omitempty"`
	// Since is when the trouble began, as far as the data tells.
	Since time.Time `json:"since"`
	// Detected is when the anomaly was raised (zero while pending).
	Detected time.Time `json:"detected,omitzero"`
	// Resolved is when it ended (zero while active).
	Resolved time.Time `json:"resolved,omitzero"`
	// Summary is the one-paragraph explanation.
	Summary string `json:"summary"`
	// Live and Baseline are the values compared, in Unit.
	Live     float64 `json:"live"`
	Baseline float64 `json:"baseline"`
	// Unit names the values' unit: "ratio", "seconds", "tasks/s".
	Unit string `json:"unit"`
	// Errors are the dominant error texts of the window.
	Errors []ErrorCount `json:"errors,omitempty"`
	// Workers are the workers involved (failing ones for failures).
	Workers []string `json:"workers,omitempty"`
	// Examples are the first failed attempts to look at.
	Examples []Example `json:"examples,omitempty"`

	// fires counts consecutive firing ticks while pending; quiet counts
	// consecutive ticks without the hold condition while active.
	Fires int `json:"fires,omitempty"`
	Quiet int `json:"quiet,omitempty"`
}

// IsActive reports whether the anomaly is raised and not resolved.
func (a *Anomaly) IsActive() bool { return !a.Detected.IsZero() && a.Resolved.IsZero() }
