package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// wireTask is one task of a pipeline.
type wireTask struct {
	i       int // index of the request
	info    *asynq.TaskInfo
	trace   string
	script  script
	keys    []string
	args    []any
	taskKey string
	msg     []byte // the encoded task record
	cmd     *redis.Cmd
	// mine is set when the script found the task ID taken, or the
	// uniqueness lock held, by this very task: stored by an earlier send
	// whose reply was lost (see sendBatch).
	mine bool
}

// sendBatch prepares the requests idx (all of one queue), sends them in
// one pipeline and stores their results.
//
// A pipeline can fail part way: Redis closes the connection on a request
// it cannot parse (an argument longer than its proto-max-bulk-len, say),
// or the network drops it, and the tasks whose replies did not arrive may
// or may not have been stored (go-redis may also have sent the pipeline
// again on its own). Those tasks are sent again, one at a time, with the
// same task ID and record, which asynq's scripts make safe: a task already
// stored answers "ID exists" (or "duplicate", when its uniqueness lock is
// held). Every such answer is checked against the record stored under the
// ID, and when that is this very task it is reported stored. So every
// result says exactly what happened to its task, and one bad task fails
// alone.
func (c *Client) sendBatch(ctx context.Context, reqs []Request, idx []int, results []Result, rnd *randBuffer) {
	now := time.Now()
	tasks := make([]wireTask, 0, len(idx))
	queue := ""
	for _, i := range idx {
		req := &reqs[i]
		r, err := c.prepare(ctx, req.Type, req.Payload, &req.Options, rnd.fill)
		if err != nil {
			results[i] = Result{Err: err}
			continue
		}
		t := r.wire(now, rnd, &c.scripts)
		t.i = i
		queue = t.info.Queue
		tasks = append(tasks, t)
	}
	if len(tasks) == 0 {
		return
	}
	pipe := c.rdb.Pipeline()
	// asynq's client registers each queue it writes to, so that the
	// Inspector and the monitor list it.
	sadd := pipe.SAdd(ctx, keyAllQueues, queue)
	for j := range tasks {
		t := &tasks[j]
		t.cmd = pipe.EvalSha(ctx, t.script.sha, t.keys, t.args...)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	c.retryNoScript(ctx, tasks)
	saddErr := sadd.Err()
	if c.resendLost(ctx, tasks) && replyLost(ctx, saddErr) {
		saddErr = c.rdb.SAdd(ctx, keyAllQueues, queue).Err()
	}
	c.checkTaken(ctx, tasks)
	for j := range tasks {
		t := &tasks[j]
		results[t.i] = t.result(saddErr)
	}
}

// retryNoScript resends with EVAL, which also loads the script, the tasks
// whose EVALSHA found no cached script (the first use after a Redis start
// or SCRIPT FLUSH). A NOSCRIPT reply means the task was not stored.
func (c *Client) retryNoScript(ctx context.Context, tasks []wireTask) {
	var pipe redis.Pipeliner
	for j := range tasks {
		t := &tasks[j]
		if !isNoScript(t.cmd.Err()) {
			continue
		}
		if pipe == nil {
			pipe = c.rdb.Pipeline()
		}
		t.cmd = pipe.Eval(ctx, t.script.src, t.keys, t.args...)
	}
	if pipe != nil {
		_, _ = pipe.Exec(ctx)
	}
}

// resendLost sends again, one at a time, the tasks whose reply was lost,
// and reports whether there were any. When a resend loses its reply too
// and Redis does not answer a PING either, it stops: Redis is unreachable
// and the tasks left keep their error.
func (c *Client) resendLost(ctx context.Context, tasks []wireTask) bool {
	lost := false
	for j := range tasks {
		t := &tasks[j]
		if !replyLost(ctx, t.cmd.Err()) {
			continue
		}
		lost = true
		cmd := c.rdb.EvalSha(ctx, t.script.sha, t.keys, t.args...)
		if isNoScript(cmd.Err()) {
			cmd = c.rdb.Eval(ctx, t.script.src, t.keys, t.args...)
		}
		t.cmd = cmd
		if replyLost(ctx, cmd.Err()) && c.rdb.Ping(ctx).Err() != nil {
			break
		}
	}
	return lost
}

// replyLost reports whether err means the reply did not arrive (the
// connection failed), as opposed to a reply of Redis or the end of ctx.
func replyLost(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, redis.Nil) {
		return false
	}
	var reply redis.Error
	return !errors.As(err, &reply) || strings.HasPrefix(err.Error(), "LOADING")
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || strings.HasPrefix(err.Error(), "NOSCRIPT"))
}

// checkTaken reads, in one pipeline, the record stored under the ID of
// each task whose script found the ID taken or the uniqueness lock held,
// or whose reply was lost even when sent alone, and marks the tasks whose
// own record it is.
func (c *Client) checkTaken(ctx context.Context, tasks []wireTask) {
	var (
		pipe   redis.Pipeliner
		checks = map[int]*redis.StringCmd{}
	)
	for j := range tasks {
		n, err := tasks[j].cmd.Int64()
		if !replyLost(ctx, err) && (err != nil || (n != 0 && n != -1)) {
			continue
		}
		if pipe == nil {
			pipe = c.rdb.Pipeline()
		}
		checks[j] = pipe.HGet(ctx, tasks[j].taskKey, "msg")
	}
	if pipe == nil {
		return
	}
	_, _ = pipe.Exec(ctx)
	for j, cmd := range checks {
		stored, err := cmd.Bytes()
		tasks[j].mine = err == nil && bytes.Equal(stored, tasks[j].msg)
	}
}

// result turns the script's reply into the task's Result, with the errors
// Enqueue returns. saddErr is the error of registering the queue.
func (t *wireTask) result(saddErr error) Result {
	n, err := t.cmd.Int64()
	if t.mine {
		n, err = 1, nil // stored by a send whose reply was lost
	}
	switch {
	case err != nil:
		return Result{Err: fmt.Errorf("tasks: enqueue %q: %w", t.info.Type, err)}
	case n == 0:
		return Result{Err: fmt.Errorf("tasks: enqueue %q: %w", t.info.Type, asynq.ErrTaskIDConflict)}
	case n == -1:
		return Result{Err: fmt.Errorf("tasks: enqueue %q: %w", t.info.Type, asynq.ErrDuplicateTask)}
	case n != 1:
		return Result{Err: fmt.Errorf("tasks: enqueue %q: unexpected reply %d from asynq's enqueue script", t.info.Type, n)}
	case saddErr != nil:
		// The task is stored and will be processed; only the queue list
		// asynq keeps for the monitor missed it. Report it, as asynq's
		// client would have refused the task.
		return Result{Err: fmt.Errorf("tasks: enqueue %q: stored as %s, but registering queue %q failed: %w",
			t.info.Type, t.info.ID, t.info.Queue, saddErr)}
	}
	return Result{Info: &TaskInfo{TaskInfo: t.info, TraceID: t.trace}}
}
