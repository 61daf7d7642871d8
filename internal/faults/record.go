package faults

import (
	"slices"
	"sync"
	"time"
)

// Call is one enqueue a producer made.
type Call struct {
	// Seq is the sequence number in the task's payload.
	Seq int64
	// Start is when the enqueue call began; Latency how long it took.
	Start   time.Time
	Latency time.Duration
	// ID is the task ID the enqueue returned (empty on error).
	ID string
	// Err is the enqueue's first error; nil means acknowledged at once.
	Err error
	// Unknown is set when Err said that the outcome is unknown (the task
	// may have been stored: tasks.ErrOutcomeUnknown). Such an error is not
	// a report of failure, so a stored task behind it is no phantom; the
	// producer enqueues it again with the same task ID, as the error asks.
	Unknown bool
	// Resolved is set when that second enqueue acknowledged the task (it
	// stored it, or found it stored by the first).
	Resolved bool
}

// End returns when the call returned.
func (c Call) End() time.Time { return c.Start.Add(c.Latency) }

// Record collects the enqueues of a run's producers. It is safe for
// concurrent use.
type Record struct {
	calls syncList[Call]
}

// Add records one enqueue.
func (r *Record) Add(c Call) { r.calls.add(c) }

// Calls returns a copy of the recorded enqueues, in the order they were
// added.
func (r *Record) Calls() []Call { return r.calls.all() }

// syncList is a list safe for concurrent appends and copies. The zero
// value is empty and ready to use.
type syncList[T any] struct {
	mu    sync.Mutex
	items []T
}

func (l *syncList[T]) add(v T) {
	l.mu.Lock()
	l.items = append(l.items, v)
	l.mu.Unlock()
}

// all returns a copy of the items, in the order they were added.
func (l *syncList[T]) all() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

// Counts is what a run's producers and ledger say about its tasks.
type Counts struct {
	// Acked is the number of enqueues acknowledged; Errored of those that
	// returned an error.
	Acked, Errored int
	// Lost counts acknowledged tasks that never finished and are not in
	// the archive either.
	Lost int
	// Archived counts acknowledged tasks that never finished and ended in
	// the archive.
	Archived int
	// Duplicated counts tasks whose handler finished more than once.
	Duplicated int
	// Phantom counts enqueues that reported a failure although the task
	// was stored: it ran, or it is in the archive. An error saying the
	// outcome is unknown is not a report of failure.
	Phantom int
	// Unknown counts enqueues whose error said the outcome was unknown;
	// each is then enqueued again with the same task ID and, once that is
	// acknowledged, counted in Acked too.
	Unknown int
	// Retried counts tasks that ran with a retry count above 0: a retry
	// was charged to them.
	Retried int
}

// Count compares the enqueues with the ledger. archived holds the
// sequence numbers found in the archive.
func Count(calls []Call, s Snapshot, archived map[int64]bool) Counts {
	var c Counts
	for _, call := range calls {
		stored := s.Done[call.Seq] > 0 || archived[call.Seq]
		if call.Unknown {
			c.Unknown++
		}
		switch {
		case call.Unknown && !call.Resolved:
			c.Errored++
		case call.Err != nil && !call.Unknown:
			c.Errored++
			if stored {
				c.Phantom++
			}
		case s.Done[call.Seq] > 0:
			c.Acked++
		case archived[call.Seq]:
			c.Acked++
			c.Archived++
		default:
			c.Acked++
			c.Lost++
		}
	}
	for _, n := range s.Done {
		if n > 1 {
			c.Duplicated++
		}
	}
	for _, n := range s.Retried {
		if n > 0 {
			c.Retried++
		}
	}
	return c
}

// MaxLatency returns the longest enqueue among those that were in progress
// at some time between from and to, and whether every one of them
// returned an error.
func MaxLatency(calls []Call, from, to time.Time) (longest time.Duration, allFailed bool) {
	allFailed = true
	n := 0
	for _, c := range calls {
		if c.End().Before(from) || c.Start.After(to) {
			continue
		}
		n++
		longest = max(longest, c.Latency)
		if c.Err == nil {
			allFailed = false
		}
	}
	return longest, allFailed && n > 0
}

// MaxGap returns the longest time between from and to during which no
// task finished for the first time, per s.FirstDone.
func MaxGap(s Snapshot, from, to time.Time) time.Duration {
	times := []time.Time{from, to}
	for _, t := range s.FirstDone {
		if t.After(from) && t.Before(to) {
			times = append(times, t)
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	var gap time.Duration
	for i := 1; i < len(times); i++ {
		gap = max(gap, times[i].Sub(times[i-1]))
	}
	return gap
}

// FirstDoneAfter returns the earliest first finish at or after t, and
// false when no task finished after t.
func FirstDoneAfter(s Snapshot, t time.Time) (time.Time, bool) {
	var first time.Time
	for _, d := range s.FirstDone {
		if !d.Before(t) && (first.IsZero() || d.Before(first)) {
			first = d
		}
	}
	return first, !first.IsZero()
}
