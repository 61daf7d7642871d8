package tasks

import (
	"context"
	"sync"
)

// Request is one task of a bulk enqueue.
type Request struct {
	// Type is the task type.
	Type string
	// Payload is the task payload.
	Payload []byte
	// Options are the task's options; the zero value uses the route.
	Options EnqueueOptions
}

// Result is the outcome of one Request of a bulk enqueue: Info on success,
// Err otherwise.
type Result struct {
	Info *TaskInfo
	Err  error
}

// DefaultParallelism is the bulk enqueue parallelism used when none is given.
const DefaultParallelism = 32

// EnqueueMany enqueues every request with at most parallelism requests in
// flight (DefaultParallelism when parallelism < 1) and returns one Result per
// request, in request order. A failed request does not stop the others; when
// ctx is cancelled the requests not yet sent fail with ctx's error, so the
// results always say exactly which tasks were stored.
func (c *Client) EnqueueMany(ctx context.Context, reqs []Request, parallelism int) []Result {
	results := make([]Result, len(reqs))
	if parallelism < 1 {
		parallelism = DefaultParallelism
	}
	parallelism = min(parallelism, len(reqs))
	var (
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range parallelism {
		wg.Go(func() {
			for i := range next {
				r := &reqs[i]
				info, err := c.Enqueue(ctx, r.Type, r.Payload, &r.Options)
				results[i] = Result{Info: info, Err: err}
			}
		})
	}
	for i := range reqs {
		if err := ctx.Err(); err != nil {
			results[i] = Result{Err: err}
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}
