package enqueuecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/tasks"
)

// TaskLine is the JSON line printed for each task on standard output.
type TaskLine struct {
	// Line is the input line number (batch only).
	Line int `json:"line,omitempty"`
	// ID, Type and Queue identify the task.
	ID    string `json:"id"`
	Type  string `json:"type"`
	Queue string `json:"queue"`
	// State is pending or scheduled after an enqueue; completed, archived
	// or the last state seen after --wait.
	State string `json:"state"`
	// TraceID is the hex W3C trace ID the task carries.
	TraceID string `json:"trace_id"`
	// ProcessAt is when the task became or becomes due (RFC 3339, UTC).
	ProcessAt string `json:"process_at,omitempty"`
	// CompletedAt is when the task completed (--wait only).
	CompletedAt string `json:"completed_at,omitempty"`
	// Retried is how many times the task was retried (--wait only).
	Retried *int `json:"retried,omitempty"`
	// Result is the task's result when it is valid JSON; ResultBase64
	// otherwise, standard base64, as the HTTP API shows it (--wait only).
	Result       json.RawMessage `json:"result,omitempty"`
	ResultBase64 string          `json:"result_base64,omitempty"`
	// Error is the task's last error (--wait only).
	Error string `json:"error,omitempty"`
}

// newTaskLine describes an enqueued task.
func newTaskLine(info *tasks.TaskInfo) TaskLine {
	tl := TaskLine{
		ID:      info.ID,
		Type:    info.Type,
		Queue:   info.Queue,
		State:   info.State.String(),
		TraceID: info.TraceID,
	}
	if !info.NextProcessAt.IsZero() {
		tl.ProcessAt = info.NextProcessAt.UTC().Format(time.RFC3339)
	}
	return tl
}

// writeLine writes tl as one JSON line.
func writeLine(w io.Writer, tl TaskLine) error {
	b, err := json.Marshal(tl)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// runSingle enqueues one task and, when wait > 0, waits for it.
func (c *command) runSingle(ctx context.Context, client *tasks.Client, cfg config.Config, taskType string, payload []byte, opts tasks.EnqueueOptions, wait time.Duration) int {
	if err := checkQueue(knownQueues(cfg, client), cfg, "--queue", taskType, &opts); err != nil {
		if errors.Is(err, ErrBadInput) {
			return c.usageError(err)
		}
		c.errorf("cannot reach Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
		return ExitFailure
	}
	info, err := client.Enqueue(ctx, taskType, payload, &opts)
	if err != nil {
		c.errorf("%s", enqueueFailure(err, cfg))
		if errors.Is(err, tasks.ErrBadOptions) {
			return ExitUsage
		}
		return ExitFailure
	}
	tl := newTaskLine(info)
	if wait <= 0 {
		if err := writeLine(c.env.Stdout, tl); err != nil {
			c.errorf("write output: %v", err)
			return ExitFailure
		}
		return ExitOK
	}
	return c.wait(ctx, client, tl, wait)
}

// enqueueFailure explains why an enqueue failed.
func enqueueFailure(err error, cfg config.Config) string {
	switch {
	case errors.Is(err, asynq.ErrDuplicateTask):
		return fmt.Sprintf("not enqueued: duplicate: %v (--unique, --unique-key)", err)
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return fmt.Sprintf("not enqueued: the task ID is already used by a task in that queue (%v)", err)
	case errors.Is(err, tasks.ErrBadOptions):
		return fmt.Sprintf("not enqueued: %v", err)
	case errors.Is(err, tasks.ErrNotReplicated):
		return fmt.Sprintf("enqueued but not replicated: Redis at %s: %v (enqueue.wait_replicas)", redisconn.Describe(cfg.Redis), err)
	case errors.Is(err, tasks.ErrOutcomeUnknown):
		return fmt.Sprintf("outcome unknown: Redis at %s: %v (the deadline is enqueue.timeout)", redisconn.Describe(cfg.Redis), err)
	case errors.Is(err, tasks.ErrEnqueueTimeout):
		return fmt.Sprintf("not enqueued: Redis at %s: %v (the deadline is enqueue.timeout)", redisconn.Describe(cfg.Redis), err)
	default:
		return fmt.Sprintf("not enqueued: Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
	}
}

// wait waits up to timeout for the task of tl to finish and prints its
// final state.
func (c *command) wait(ctx context.Context, client *tasks.Client, tl TaskLine, timeout time.Duration) int {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	shown := &progressShown{w: c.env.Stderr, terminal: c.env.IsTerminal}
	info, err := client.WaitProgress(wctx, tl.Queue, tl.ID, shown.show)
	shown.done()
	if info != nil {
		tl.State = info.State.String()
		retried := info.Retried
		tl.Retried = &retried
		tl.Error = info.LastErr
		if !info.CompletedAt.IsZero() {
			tl.CompletedAt = info.CompletedAt.UTC().Format(time.RFC3339)
		}
		tl.Result, tl.ResultBase64 = taskspec.JSONOrBase64(info.Result)
	}
	if werr := writeLine(c.env.Stdout, tl); werr != nil {
		c.errorf("write output: %v", werr)
		return ExitFailure
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		c.errorf("task %s did not finish within %s (state %s)", tl.ID, timeout, tl.State)
		return ExitFailure
	case errors.Is(err, tasks.ErrTaskGone):
		c.errorf("task %s disappeared before it could be seen finished: it was deleted", tl.ID)
		return ExitFailure
	case err != nil:
		c.errorf("wait for task %s: %v", tl.ID, err)
		return ExitFailure
	case info.State == asynq.TaskStateArchived:
		c.errorf("task %s was archived after %d retries: %s", tl.ID, info.Retried, info.LastErr)
		return ExitFailure
	}
	return ExitOK
}
