package demo

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
)

// QueueStats is what happened in one queue during the demo.
type QueueStats struct {
	// Queue is the queue name.
	Queue string
	// Processed counts attempts that ended, successful or not, during the
	// demo (asynq's processed counter).
	Processed int
	// Failed counts attempts that failed during the demo.
	Failed int
	// Pending, Active, Scheduled and Retry are the queue's tasks in those
	// states at the end.
	Pending, Active, Scheduled, Retry int
	// Archived counts tasks archived during the demo: out of retries or
	// failed with SkipRetry.
	Archived int
	// Completed counts completed tasks kept for their retention period.
	Completed int
}

// Succeeded is the number of attempts that succeeded.
func (q QueueStats) Succeeded() int { return q.Processed - q.Failed }

// Summary is what a demo run did.
type Summary struct {
	// Elapsed is how long tasks were produced.
	Elapsed time.Duration
	// RedisKind is KindExternal, KindServer or KindEmbedded; RedisAddr its
	// address.
	RedisKind, RedisAddr string
	// Enqueued counts enqueued tasks by type.
	Enqueued map[string]int
	// EnqueueErrors counts enqueues that failed; LastEnqueueError is the
	// last of them.
	EnqueueErrors    int
	LastEnqueueError error
	// Queues has one entry per demo queue, in priority order.
	Queues []QueueStats
	// Webhook is what the local webhook endpoint received.
	Webhook WebhookStats
}

// Processed is the number of attempts processed in all queues.
func (s *Summary) Processed() int {
	n := 0
	for _, q := range s.Queues {
		n += q.Processed
	}
	return n
}

// total adds up the queues.
func (s *Summary) total() QueueStats {
	t := QueueStats{Queue: "total"}
	for _, q := range s.Queues {
		t.Processed += q.Processed
		t.Failed += q.Failed
		t.Pending += q.Pending
		t.Active += q.Active
		t.Scheduled += q.Scheduled
		t.Retry += q.Retry
		t.Archived += q.Archived
		t.Completed += q.Completed
	}
	return t
}

// Write prints the summary as a few lines and a table.
func (s *Summary) Write(w io.Writer) error {
	enq := 0
	for _, n := range s.Enqueued {
		enq += n
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nsummary after %s (Redis: %s on %s)\n", s.Elapsed.Round(time.Second), s.RedisKind, s.RedisAddr)
	fmt.Fprintf(&b, "enqueued %d tasks: %s\n", enq, formatCounts(s.Enqueued))
	if s.EnqueueErrors > 0 {
		fmt.Fprintf(&b, "enqueue errors: %d, the last: %v\n", s.EnqueueErrors, s.LastEnqueueError)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "queue\tprocessed\tsucceeded\tfailed\tarchived\tretrying\tscheduled\tpending\t")
	for _, q := range append(append([]QueueStats{}, s.Queues...), s.total()) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
			q.Queue, q.Processed, q.Succeeded(), q.Failed, q.Archived, q.Retry, q.Scheduled, q.Pending+q.Active)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("(processed and failed count attempts: a task retried twice is processed three times)\n")
	fmt.Fprintf(&b, "webhook endpoint: %s\n", s.Webhook)
	_, err := io.WriteString(w, b.String())
	return err
}

// queueCounters reads the queues' counters; a queue that does not exist
// yet reads as zeros.
func queueCounters(insp *asynq.Inspector) (map[string]*asynq.QueueInfo, error) {
	// GetQueueInfo of a missing queue fails with an error of asynq's
	// internal package, so list the queues first.
	names, err := insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	out := make(map[string]*asynq.QueueInfo, len(demoQueues))
	for _, q := range demoQueues {
		out[q] = &asynq.QueueInfo{Queue: q}
		if !slices.Contains(names, q) {
			continue
		}
		info, err := insp.GetQueueInfo(q)
		if err != nil {
			return nil, fmt.Errorf("read queue %s: %w", q, err)
		}
		out[q] = info
	}
	return out, nil
}

// queueStats turns counters into per-queue stats relative to base, the
// counters when the demo began (a Redis given by TUSKQ_REDIS_ADDR may hold
// earlier history).
func queueStats(now, base map[string]*asynq.QueueInfo) []QueueStats {
	out := make([]QueueStats, 0, len(demoQueues))
	for _, q := range demoQueues {
		n, b := now[q], base[q]
		if n == nil {
			n = &asynq.QueueInfo{}
		}
		if b == nil {
			b = &asynq.QueueInfo{}
		}
		out = append(out, QueueStats{
			Queue:     q,
			Processed: n.ProcessedTotal - b.ProcessedTotal,
			Failed:    n.FailedTotal - b.FailedTotal,
			Pending:   n.Pending,
			Active:    n.Active,
			Scheduled: n.Scheduled,
			Retry:     n.Retry,
			Archived:  max(0, n.Archived-b.Archived),
			Completed: n.Completed,
		})
	}
	return out
}

// statusLine is the one line printed every few seconds.
func statusLine(elapsed time.Duration, enqueued int, qs []QueueStats, hook WebhookStats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%4ds  enqueued %d  processed", int(elapsed.Seconds()), enqueued)
	var t QueueStats
	for _, q := range qs {
		fmt.Fprintf(&b, " %s %d", q.Queue, q.Processed)
		t.Processed += q.Processed
		t.Failed += q.Failed
		t.Retry += q.Retry
		t.Archived += q.Archived
		t.Scheduled += q.Scheduled
		t.Pending += q.Pending + q.Active
	}
	fmt.Fprintf(&b, " (failed %d)  pending %d  scheduled %d  retrying %d  archived %d  webhook calls %d",
		t.Failed, t.Pending, t.Scheduled, t.Retry, t.Archived, hook.Calls)
	return b.String()
}
