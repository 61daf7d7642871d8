package taskspec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// liveRefresh is the least time between two reads of the queues served by
// running workers.
const liveRefresh = time.Second

// Queues knows which queues a task may be put in: the queues of
// worker.queues and of the routes in the configuration, plus the queues
// served by the workers running now. A queue outside this set would
// collect tasks no worker takes, so the enqueue CLI and the HTTP API both
// refuse it, with the same words. It is safe for concurrent use.
type Queues struct {
	static map[string]bool
	live   func() ([]string, error)

	mu      sync.Mutex
	seen    map[string]bool
	fetched time.Time
}

// NewQueues returns the set of the configured queues and of the queues
// live reports (read again at most once a second; nil for none).
func NewQueues(configured []string, live func() ([]string, error)) *Queues {
	q := &Queues{static: map[string]bool{}, live: live}
	for _, name := range configured {
		if name != "" {
			q.static[name] = true
		}
	}
	return q
}

// Check returns a problem naming FieldQueue (after prefix) when queue is
// not known, nil when it is; err means the running workers could not be
// listed.
func (q *Queues) Check(prefix, queue string) (*Problem, error) {
	known, err := q.known(queue)
	if err != nil || known {
		return nil, err
	}
	return &Problem{Field: prefix + FieldQueue, Detail: fmt.Sprintf(
		"unknown queue %q; known queues: %s (worker.queues, route queues and queues of running workers)", queue, q.describe())}, nil
}

func (q *Queues) known(queue string) (bool, error) {
	if q.static[queue] {
		return true, nil
	}
	if q.live == nil {
		return false, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if time.Since(q.fetched) >= liveRefresh {
		names, err := q.live()
		if err != nil {
			return false, fmt.Errorf("list running workers: %w", err)
		}
		seen := make(map[string]bool, len(names))
		for _, n := range names {
			seen[n] = true
		}
		q.seen, q.fetched = seen, time.Now()
	}
	return q.seen[queue], nil
}

// describe lists the known queues.
func (q *Queues) describe() string {
	all := maps.Clone(q.static)
	q.mu.Lock()
	maps.Copy(all, q.seen)
	q.mu.Unlock()
	return strings.Join(slices.Sorted(maps.Keys(all)), ", ")
}
