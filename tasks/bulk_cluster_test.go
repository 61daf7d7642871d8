package tasks_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// TestEnqueueManyCluster enqueues into several queues of a Redis Cluster:
// each pipeline holds one queue's keys, which share a hash slot, so no
// script fails with CROSSSLOT, and asynq's Inspector finds every task.
func TestEnqueueManyCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	addrs := redistest.StartCluster(t).Addrs()
	opt := asynq.RedisClusterClientOpt{Addrs: addrs}
	c, err := tasks.NewClient(opt, tasks.ClientOptions{Routes: []tasks.Route{{Pattern: "low:*", Queue: "low"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	queues := []string{"critical", "default", "low", "q4", "q5"}
	var reqs []tasks.Request
	for i := range 600 {
		r := tasks.Request{Type: "cluster:x", Payload: []byte(fmt.Sprint(i))}
		switch q := queues[i%len(queues)]; q {
		case "low":
			r.Type = "low:x"
		case "default":
		default:
			r.Options.Queue = q
		}
		if i%4 == 0 {
			r.Options.UniqueTTL = time.Minute
		}
		if i%6 == 0 {
			r.Options.ProcessIn = time.Hour
		}
		reqs = append(reqs, r)
	}
	for i, r := range c.EnqueueMany(ctx, reqs, 4) {
		if r.Err != nil {
			t.Fatalf("task %d: %v", i, r.Err)
		}
	}
	// The unique tasks again: each a duplicate.
	var again []tasks.Request
	for i := 0; i < len(reqs); i += 4 {
		again = append(again, reqs[i])
	}
	for i, r := range c.EnqueueMany(ctx, again, 4) {
		if !errors.Is(r.Err, asynq.ErrDuplicateTask) {
			t.Fatalf("again, task %d: %v; want a duplicate", i*4, r.Err)
		}
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	got, err := insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(queues) {
		t.Fatalf("queues %v; want %v", got, queues)
	}
	total := 0
	for _, q := range queues {
		qi, err := insp.GetQueueInfo(q)
		if err != nil {
			t.Fatalf("queue %s: %v", q, err)
		}
		if qi.Pending+qi.Scheduled != 120 {
			t.Errorf("queue %s: %d pending + %d scheduled; want 120", q, qi.Pending, qi.Scheduled)
		}
		total += qi.Pending + qi.Scheduled
	}
	if total != len(reqs) {
		t.Fatalf("%d tasks stored; want %d", total, len(reqs))
	}
}
