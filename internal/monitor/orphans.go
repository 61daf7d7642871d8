package monitor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// descOrphaned is the gauge of orphaned tasks per queue.
var descOrphaned = prometheus.NewDesc("tuskq_orphaned_tasks",
	"Active tasks whose lease expired: their worker stopped without finishing them (asynq's TaskInfo.IsOrphaned). They are recovered automatically.",
	[]string{"queue"}, nil)

// FleetQueue is one queue of FleetReport.Queues.
type FleetQueue struct {
	// Queue is the queue name.
	Queue string `json:"queue"`
	// Orphaned is the number of its active tasks whose lease expired:
	// their worker stopped (died or lost Redis) without finishing them.
	// Workers hand them back to the queue automatically.
	Orphaned int64 `json:"orphaned"`
	// Workers is the number of worker processes serving the queue; 0
	// means its tasks wait for a worker that lists it.
	Workers int `json:"workers"`
	// Processed and Failed are the tasks processed (succeeded or failed)
	// and failed per day, the last HistoryDays days, oldest first, today
	// last (asynq's daily statistics).
	Processed []int `json:"processed_daily,omitempty"`
	// Failed is the failed tasks per day, as Processed.
	Failed []int `json:"failed_daily,omitempty"`
}

// HistoryDays is how many days of daily statistics the fleet report has
// per queue.
const HistoryDays = 7

// queueOrphans counts the orphaned tasks of every queue asynq knows
// (asynq:queues) at now, one ZCOUNT per queue, sorted by queue name.
func queueOrphans(ctx context.Context, insp *asynq.Inspector, rdb redis.UniversalClient, now time.Time) ([]FleetQueue, error) {
	queues, err := insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("monitor: list queues: %w", err)
	}
	counts, err := asynqrdb.CountOrphans(ctx, rdb, queues, now)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	out := make([]FleetQueue, 0, len(queues))
	for _, q := range queues {
		out = append(out, FleetQueue{Queue: q, Orphaned: counts[q]})
	}
	slices.SortFunc(out, func(a, b FleetQueue) int { return cmp.Compare(a.Queue, b.Queue) })
	return out, nil
}

// orphanWarnings are the fleet page's lines about queues with orphaned
// tasks, in queue order.
func orphanWarnings(qs []FleetQueue) []string {
	var out []string
	for _, q := range qs {
		switch {
		case q.Orphaned == 1:
			out = append(out, fmt.Sprintf("1 orphaned task in queue %s: its worker stopped without finishing it; it is recovered automatically", q.Queue))
		case q.Orphaned > 1:
			out = append(out, fmt.Sprintf("%d orphaned tasks in queue %s: their worker stopped without finishing them; they are recovered automatically", q.Orphaned, q.Queue))
		}
	}
	return out
}

// orphanCollector reports tuskq_orphaned_tasks for every queue at scrape
// time.
type orphanCollector struct {
	insp    *asynq.Inspector
	rdb     redis.UniversalClient
	timeout time.Duration
	now     func() time.Time
}

func (c *orphanCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descOrphaned }

func (c *orphanCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	qs, err := queueOrphans(ctx, c.insp, c.rdb, c.now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descOrphaned, err)
		return
	}
	for _, q := range qs {
		ch <- prometheus.MustNewConstMetric(descOrphaned, prometheus.GaugeValue, float64(q.Orphaned), q.Queue)
	}
}
