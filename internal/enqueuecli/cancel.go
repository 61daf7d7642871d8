package enqueuecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/asynqrdb"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/taskcancel"
)

const cancelUsage = `Usage:
  enqueue cancel [flags] QUEUE ID   cancel the running task ID of QUEUE

The worker running the task cancels its processor's context and ends the
task at once, never to be retried: archived with the error "cancelled" (the
default) or deleted, as the worker's worker.cancelled says. Prints one JSON
line: id, type, queue, outcome ("cancelled") and final_state ("archived" or
"deleted").

Exit codes: 0 cancelled; 1 no such task, not running, finished first, or
still running after --wait (its worker is gone or hung); 2 bad input.

Flags:
`

// defaultCancelWait is how long enqueue cancel waits for the task to end.
const defaultCancelWait = 10 * time.Second

// CancelResult is the line enqueue cancel prints.
type CancelResult struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Queue      string `json:"queue"`
	Outcome    string `json:"outcome"`
	FinalState string `json:"final_state"`
}

// Cancel runs "enqueue cancel" with args (after "cancel") and returns the
// exit code.
func Cancel(ctx context.Context, args []string, env Env) int {
	fs := pflag.NewFlagSet("enqueue cancel", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	wait := fs.Duration("wait", defaultCancelWait, "wait up to `DURATION` for the task to end")
	config.AddFlags(fs)
	usageErr := func(err error) int {
		fmt.Fprintf(env.Stderr, "enqueue cancel: %v\nrun 'enqueue cancel --help' for usage\n", err)
		return ExitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "enqueue cancel: "+format+"\n", a...)
		return ExitFailure
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, cancelUsage+fs.FlagUsages())
			return ExitOK
		}
		return usageErr(err)
	}
	if fs.NArg() != 2 || fs.Arg(0) == "" || fs.Arg(1) == "" {
		return usageErr(fmt.Errorf("want QUEUE and ID, got %d arguments", fs.NArg()))
	}
	if *wait <= 0 {
		return usageErr(fmt.Errorf("--wait: %s is not positive", *wait))
	}
	queue, id := fs.Arg(0), fs.Arg(1)
	cfg, err := config.Load(config.LoadOptions{Environ: env.Environ, Flags: fs})
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return cli.LoadExitCode(err)
	}
	rdb, err := redisconn.Client(cfg.Redis)
	if err != nil {
		return usageErr(err)
	}
	defer rdb.Close()
	connOpt, err := redisconn.ProducerConnOpt(cfg.Redis)
	if err != nil {
		return usageErr(err)
	}
	insp := asynq.NewInspector(connOpt)
	defer insp.Close()

	info, err := insp.GetTaskInfo(queue, id)
	switch {
	case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		return fail("no task %q in queue %q", id, queue)
	case err != nil:
		return fail("Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
	case info.State != asynq.TaskStateActive:
		return fail("task %q of queue %q is %s, not running: nothing to cancel (delete it with the HTTP API's DELETE or from the monitor)", id, queue, info.State)
	}
	res := CancelResult{ID: id, Type: info.Type, Queue: queue, Outcome: "cancelled"}
	deadline := time.Now().Add(*wait)
	var published time.Time
	delay := 5 * time.Millisecond
	for {
		// Published again each second, in case a worker was
		// resubscribing when it was sent.
		if time.Since(published) >= time.Second {
			if err := taskcancel.Publish(ctx, rdb, queue, id); err != nil {
				return fail("Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
			}
			published = time.Now()
		}
		info, err := insp.GetTaskInfo(queue, id)
		switch {
		case (errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)) && cfg.Worker.Cancelled == config.CancelledDelete:
			res.FinalState = "deleted"
			return printCancel(env, res)
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			return fail("task %q completed before the cancellation reached it; it is gone", id)
		case err != nil:
			return fail("Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
		case info.State == asynq.TaskStateArchived && info.LastErr == asynqrdb.CancelledError:
			res.FinalState = "archived"
			return printCancel(env, res)
		case info.State != asynq.TaskStateActive:
			return fail("task %q is %s: it ended before the cancellation reached it", id, info.State)
		}
		if time.Now().After(deadline) {
			return fail("task %q is still running after %s: its worker did not answer (gone or hung); run enqueue cancel again later", id, *wait)
		}
		select {
		case <-ctx.Done():
			return fail("%v", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func printCancel(env Env, res CancelResult) int {
	b, _ := json.Marshal(res) // plain strings: cannot fail
	if _, err := fmt.Fprintf(env.Stdout, "%s\n", b); err != nil {
		fmt.Fprintf(env.Stderr, "enqueue cancel: write output: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}
