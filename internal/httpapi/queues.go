package httpapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
)

// liveRefresh is the least time between two reads of the queues served by
// running workers.
const liveRefresh = time.Second

// queueSet knows which queues a task may be put in: the queues of
// worker.queues and of the routes in the configuration, plus the queues
// served by the workers running now (read from their heartbeats in
// Redis). A queue outside this set would collect tasks no worker takes, so
// the API rejects it.
type queueSet struct {
	static map[string]bool
	insp   *asynq.Inspector

	mu      sync.Mutex
	live    map[string]bool
	fetched time.Time
}

func newQueueSet(cfg config.Config, insp *asynq.Inspector) *queueSet {
	q := &queueSet{static: map[string]bool{}, insp: insp}
	for name := range cfg.Worker.Queues {
		q.static[name] = true
	}
	for _, r := range cfg.Routes {
		if r.Queue != "" {
			q.static[r.Queue] = true
		}
	}
	return q
}

// known reports whether queue may be used. A queue outside the
// configuration is looked up among the queues of running workers, read
// again from Redis at most once per liveRefresh; an error means Redis did
// not answer.
func (q *queueSet) known(queue string) (bool, error) {
	if q.static[queue] {
		return true, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if time.Since(q.fetched) >= liveRefresh {
		servers, err := q.insp.Servers()
		if err != nil {
			return false, fmt.Errorf("list running workers: %w", err)
		}
		live := map[string]bool{}
		for _, s := range servers {
			for name := range s.Queues {
				live[name] = true
			}
		}
		q.live, q.fetched = live, time.Now()
	}
	return q.live[queue], nil
}

// describe lists the known queues for an error message.
func (q *queueSet) describe() string {
	all := maps.Clone(q.static)
	q.mu.Lock()
	maps.Copy(all, q.live)
	q.mu.Unlock()
	return strings.Join(slices.Sorted(maps.Keys(all)), ", ")
}
