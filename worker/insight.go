package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/insight"
)

// newInsightRecorder returns the worker's aggregates for the monitor's
// Insight page, named host:pid:random like nothing else in the fleet.
func newInsightRecorder(wc config.WorkerConfig, version func(string) string) *insight.Recorder {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	queues := make([]string, 0, len(wc.Queues))
	for q := range wc.Queues {
		queues = append(queues, q)
	}
	slices.Sort(queues)
	return insight.NewRecorder(insight.RecorderOptions{
		Worker:  host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:]),
		Queues:  queues,
		Version: version,
	})
}

// publishInsight writes the worker's aggregates to Redis every 5 s until
// ctx is done (after the servers stopped, so the last attempts are in),
// then removes them. It is off the tasks' path: one HSET and one PEXPIRE
// per interval.
func (w *Worker) publishInsight(ctx context.Context, rdb redis.UniversalClient) {
	insight.Publish(ctx, insight.NewStore(rdb), w.insight, insight.PublisherOptions{Logger: w.logger})
}
