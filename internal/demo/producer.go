package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tuskq/tuskq/tasks"
)

// Queues the demo enqueues into: the worker's default queues.
var demoQueues = []string{"critical", "default", "low"}

// retries returns a pointer to n, for EnqueueOptions.MaxRetry.
func retries(n int) *int { return &n }

// round returns the tasks of producer round r (0-based): about ten tasks
// mixing every queue, a delay, failures that retry, fail for good or skip
// retry, and webhook calls.
func round(r int, webhookURL string) []tasks.Request {
	js := func(v any) []byte {
		b, _ := json.Marshal(v) // maps of strings and numbers always marshal
		return b
	}
	reqs := []tasks.Request{
		// Critical: quick echoes, kept for ten minutes so the monitor shows
		// their results under "completed".
		{Type: "demo:echo", Payload: js(map[string]any{"round": r, "n": 1, "msg": "hello"}),
			Options: tasks.EnqueueOptions{Queue: "critical", Retention: 10 * time.Minute}},
		{Type: "demo:echo", Payload: js(map[string]any{"round": r, "n": 2, "msg": "hello"}),
			Options: tasks.EnqueueOptions{Queue: "critical", Retention: 10 * time.Minute}},
		// Default: some work of varying length.
		{Type: "demo:sleep", Payload: js(map[string]any{"ms": 50 + (r*37)%400}),
			Options: tasks.EnqueueOptions{Queue: "default"}},
		{Type: "demo:sleep", Payload: js(map[string]any{"ms": 100 + (r*53)%600}),
			Options: tasks.EnqueueOptions{Queue: "default"}},
		{Type: "demo:sleep", Payload: js(map[string]any{"ms": 20}),
			Options: tasks.EnqueueOptions{Queue: "default"}},
		// A webhook: the endpoint answers 200, 503 (retried) or 404 (not
		// retried: archived).
		{Type: "http:request", Payload: js(map[string]any{
			"method": "POST", "url": webhookURL, "timeout": "5s",
			"headers": map[string]string{"Content-Type": "application/json"},
			"body":    map[string]any{"event": "demo", "round": r},
		}), Options: tasks.EnqueueOptions{Queue: "default", MaxRetry: retries(3)}},
		// Low: background work, one of it delayed by 3 to 9 seconds.
		{Type: "demo:echo", Payload: js(map[string]any{"round": r, "msg": "low priority"}),
			Options: tasks.EnqueueOptions{Queue: "low"}},
		{Type: "demo:sleep", Payload: js(map[string]any{"ms": 200}),
			Options: tasks.EnqueueOptions{Queue: "low", ProcessIn: time.Duration(3+r%7) * time.Second}},
	}
	if r%2 == 0 {
		// Fails once, retried after asynq's backoff (15 s or more), then succeeds.
		reqs = append(reqs, tasks.Request{Type: "demo:fail", Payload: js(map[string]any{"times": 1}),
			Options: tasks.EnqueueOptions{Queue: "default", MaxRetry: retries(3)}})
	}
	if r%3 == 1 {
		// Fails without retry: archived at once.
		reqs = append(reqs, tasks.Request{Type: "demo:fail", Payload: js(map[string]any{"skip_retry": true}),
			Options: tasks.EnqueueOptions{Queue: "low"}})
	}
	if r%4 == 3 {
		// Always fails with no retry budget: archived after one attempt.
		reqs = append(reqs, tasks.Request{Type: "demo:fail", Payload: js(map[string]any{"times": -1}),
			Options: tasks.EnqueueOptions{Queue: "critical", MaxRetry: retries(0)}})
	}
	return reqs
}

// producer enqueues a round of tasks every interval and counts what it
// enqueued.
type producer struct {
	client   *tasks.Client
	url      string
	interval time.Duration

	mu       sync.Mutex
	enqueued map[string]int
	errors   int
	lastErr  error
}

// run produces until ctx ends.
func (p *producer) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for r := 0; ; r++ {
		reqs := round(r, p.url)
		p.count(ctx, reqs, p.client.EnqueueMany(ctx, reqs, 4))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *producer) count(ctx context.Context, reqs []tasks.Request, results []tasks.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, res := range results {
		if res.Err != nil {
			// A round cut short by the end of the demo is not an error.
			if ctx.Err() == nil {
				p.errors++
				p.lastErr = res.Err
			}
			continue
		}
		p.enqueued[reqs[i].Type]++
	}
}

// total returns the number of tasks enqueued so far.
func (p *producer) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.enqueued {
		n += c
	}
	return n
}

// snapshot returns a copy of the counts, the number of failed enqueues and
// the last enqueue error.
func (p *producer) snapshot() (map[string]int, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int, len(p.enqueued))
	for k, v := range p.enqueued {
		m[k] = v
	}
	return m, p.errors, p.lastErr
}

// formatCounts formats counts by type as "demo:echo 60, demo:sleep 90".
func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
