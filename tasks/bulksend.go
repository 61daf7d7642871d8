package tasks

import (
	"context"
	"time"
)

// sendBatch prepares the requests idx (all of one queue), stores them with
// one run of the enqueue script under one deadline (see storeTasks) and
// stores their results.
func (c *Client) sendBatch(ctx context.Context, reqs []Request, idx []int, results []Result, rnd *randBuffer) {
	now := time.Now()
	tasks := make([]wireTask, 0, len(idx))
	for _, i := range idx {
		req := &reqs[i]
		r, err := c.prepare(ctx, req.Type, req.Payload, &req.Options, rnd.fill)
		if err != nil {
			results[i] = Result{Err: err}
			continue
		}
		t := r.wire(now, rnd.fill)
		t.i = i
		tasks = append(tasks, t)
	}
	if len(tasks) == 0 {
		return
	}
	ctx, cancel, dl := c.withDeadline(ctx)
	defer cancel()
	for j, r := range c.storeTasks(ctx, tasks, dl.scriptMS) {
		t := &tasks[j]
		info, err := t.finish(r, dl, c.waitReplicas)
		results[t.i] = Result{Info: info, Err: err}
	}
}
