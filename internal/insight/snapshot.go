package insight

import (
	"math"
	"time"
)

// NumBuckets is the number of duration buckets of a series. Bucket i holds
// the attempts that took [BucketLow(i), BucketLow(i+1)): the bounds grow by
// a factor √2 from 100 µs, so bucket 47 starts at about 28 minutes and
// holds everything longer. A quantile read from them is within a factor
// 2^(1/4) (±19 %) of the true one, which is finer than any shift worth an
// alarm.
const NumBuckets = 48

// bucketBase is the lower bound of bucket 1 (bucket 0 holds everything
// shorter).
const bucketBase = 100 * time.Microsecond

// BucketOf returns the bucket of a duration.
func BucketOf(d time.Duration) int {
	if d < bucketBase {
		return 0
	}
	i := 1 + int(2*math.Log2(float64(d)/float64(bucketBase)))
	return min(i, NumBuckets-1)
}

// BucketLow returns the lower bound of bucket i (0 for bucket 0).
func BucketLow(i int) time.Duration {
	if i <= 0 {
		return 0
	}
	return time.Duration(float64(bucketBase) * math.Pow(2, float64(i-1)/2))
}

// WorkerSnapshot is what one worker publishes every few seconds: its
// cumulative per series aggregates since it started. Counts only grow
// while Started stays the same, so the monitor takes differences between
// two snapshots and a missed snapshot loses nothing.
type WorkerSnapshot struct {
	// Worker identifies the worker process (host:pid:random).
	Worker string `json:"worker"`
	// Started is when the worker's counts began.
	Started time.Time `json:"started"`
	// At is when the snapshot was taken.
	At time.Time `json:"at"`
	// Queues are the queues the worker consumes.
	Queues []string `json:"queues,omitempty"`
	// Series are the aggregates, one per task type, queue and version.
	Series []SeriesSnapshot `json:"series,omitempty"`
}

// SeriesSnapshot is the cumulative aggregate of one task type on one queue
// (and one plugin version) in one worker.
type SeriesSnapshot struct {
	// Type is the task type.
	Type string `json:"type"`
	// Queue is the queue.
	Queue string `json:"queue"`
	// Version is the plugin version that processed the attempts, empty
	// for compiled-in processors.
	Version string `json:"version,omitempty"`
	// Attempts counts finished attempts (success or failure; deferrals,
	// requeues and cancellations are not counted).
	Attempts uint64 `json:"n"`
	// Failures counts attempts that failed.
	Failures uint64 `json:"f,omitempty"`
	// Retries counts failed attempts that will be retried.
	Retries uint64 `json:"r,omitempty"`
	// BucketLo is the index of Buckets[0]: leading empty buckets are left
	// out.
	BucketLo int `json:"lo,omitempty"`
	// Buckets are the attempts per duration bucket (see NumBuckets).
	Buckets []uint64 `json:"b,omitempty"`
	// Errors are the most frequent normalized error texts with their
	// cumulative counts.
	Errors []ErrorCount `json:"e,omitempty"`
	// Recent are the last few failed attempts, newest last.
	Recent []Example `json:"x,omitempty"`
}

// ErrorCount is a normalized error text and how many attempts failed with
// it.
type ErrorCount struct {
	// Text is the normalized error text (see NormalizeError).
	Text string `json:"text"`
	// Count is the number of failed attempts.
	Count uint64 `json:"count"`
}

// Example is one failed attempt, for a person to look at.
type Example struct {
	// TaskID is the asynq task ID.
	TaskID string `json:"task_id"`
	// TraceID is the attempt's trace ID (hex), empty when unknown.
	TraceID string `json:"trace_id,omitempty"`
	// Worker is the worker that ran it (filled in by the monitor).
	Worker string `json:"worker,omitempty"`
	// At is when the attempt ended.
	At time.Time `json:"at"`
	// Error is the normalized error text.
	Error string `json:"error,omitempty"`
}

// QueueStat is the state of one queue at one moment, as asynq's inspector
// reports it.
type QueueStat struct {
	// Name is the queue.
	Name string `json:"name"`
	// Pending, Active, Scheduled and Retry are the task counts by state.
	Pending   int `json:"pending"`
	Active    int `json:"active"`
	Scheduled int `json:"scheduled"`
	Retry     int `json:"retry"`
	// Done is a cumulative count of tasks processed (asynq's daily
	// processed counter); the engine uses its differences.
	Done int `json:"done"`
	// Latency is the age of the oldest pending task.
	Latency time.Duration `json:"latency"`
	// Paused reports a paused queue (no stall is reported for it).
	Paused bool `json:"paused,omitempty"`
}

// buckets is a full bucket array.
type buckets [NumBuckets]uint64

// add adds a series' sparse buckets, less prev's when prev is not nil.
func (b *buckets) addDelta(cur, prev *SeriesSnapshot) {
	for i, c := range cur.Buckets {
		idx := cur.BucketLo + i
		if idx < 0 || idx >= NumBuckets {
			continue
		}
		p := uint64(0)
		if prev != nil {
			if j := idx - prev.BucketLo; j >= 0 && j < len(prev.Buckets) {
				p = prev.Buckets[j]
			}
		}
		if c > p {
			b[idx] += c - p
		}
	}
}

// quantile returns the q-quantile (0 < q < 1) of the durations counted in
// b, interpolated geometrically inside its bucket, and false when b is
// empty.
func (b *buckets) quantile(q float64) (time.Duration, bool) {
	var n uint64
	for _, c := range b {
		n += c
	}
	if n == 0 {
		return 0, false
	}
	rank := q * float64(n)
	var cum float64
	for i, c := range b {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			frac := (rank - cum) / float64(c)
			lo := float64(BucketLow(i))
			if i == 0 {
				return time.Duration(frac * float64(bucketBase)), true
			}
			return time.Duration(lo * math.Pow(2, frac/2)), true
		}
		cum += float64(c)
	}
	return BucketLow(NumBuckets - 1), true
}
