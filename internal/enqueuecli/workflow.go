package enqueuecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/tasks"
)

// workflowPoll is how often --workflow --wait reads the workflow.
const workflowPoll = 200 * time.Millisecond

// workflow checks the command line of a --workflow run and runs it: it
// reads the JSON form from FILE ("-": standard input), enqueues it and
// prints {"id","trace_id","steps"}; with --wait it follows the steps
// (a line per state change on standard error, or one progress line on a
// terminal) and prints the workflow's final state as GET
// /v1/workflows/{id} shows it.
func (c *command) workflow(ctx context.Context) int {
	if c.fs.NArg() > 0 {
		return c.usageError(fmt.Errorf("--workflow reads the workflow from FILE and takes no arguments (got %q)", c.fs.Arg(0)))
	}
	for _, name := range []string{"batch", "queue", "delay", "at", "max-retry", "timeout", "deadline", "unique", "unique-key", "id", "retention", "header", "parallelism"} {
		if c.fs.Changed(name) {
			return c.usageError(fmt.Errorf("--%s cannot be used with --workflow; set it on the steps' task objects in the file", name))
		}
	}
	var wait time.Duration
	if c.fs.Changed("wait") {
		var err error
		if wait, err = parseTimeout("--wait", c.flags.wait); err != nil {
			return c.usageError(err)
		}
	}
	var data []byte
	var err error
	if c.flags.workflow == "-" {
		data, err = io.ReadAll(c.env.Stdin)
	} else {
		data, err = os.ReadFile(c.flags.workflow)
	}
	if err != nil {
		c.errorf("--workflow: %v", err)
		return ExitFailure
	}
	wf, err := tasks.ParseWorkflow(data)
	if err != nil {
		c.errorf("--workflow %s: %v", c.flags.workflow, err)
		return ExitUsage
	}
	client, _, code := c.connect(ctx)
	if client == nil {
		return code
	}
	defer c.flushSpans(ctx)
	defer client.Close()
	info, err := client.EnqueueWorkflow(ctx, wf)
	if err != nil {
		c.errorf("%v", err)
		if errors.Is(err, tasks.ErrInvalidWorkflow) || errors.Is(err, tasks.ErrBadOptions) {
			return ExitUsage
		}
		return ExitFailure
	}
	if wait == 0 {
		return printJSON(c.env, httpapi.WorkflowCreated{ID: info.ID, TraceID: info.TraceID, Steps: info.Steps})
	}
	return c.waitWorkflow(ctx, client, info.ID, wait)
}

// waitWorkflow follows workflow id until it ends or wait passes.
func (c *command) waitWorkflow(ctx context.Context, client *tasks.Client, id string, wait time.Duration) int {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	seen := map[string]string{}
	tick := time.NewTicker(workflowPoll)
	defer tick.Stop()
	for {
		st, err := client.Workflow(ctx, id)
		if err != nil {
			c.errorf("workflow %s: %v", id, err)
			return ExitFailure
		}
		c.progress(st, seen)
		if st.Finished != nil {
			if c.env.IsTerminal {
				fmt.Fprintln(c.env.Stderr)
			}
			code := printJSON(c.env, httpapi.WorkflowViewOf(st))
			if st.State != "succeeded" && code == ExitOK {
				code = ExitFailure
			}
			return code
		}
		select {
		case <-ctx.Done():
			if c.env.IsTerminal {
				fmt.Fprintln(c.env.Stderr)
			}
			c.errorf("workflow %s did not end within %s (--wait); it runs on", id, wait)
			return ExitFailure
		case <-tick.C:
		}
	}
}

// progress shows what changed since the last call: on a terminal one
// line of counts, rewritten; otherwise a line per step whose state
// changed, "step NAME STATE".
func (c *command) progress(st *tasks.WorkflowState, seen map[string]string) {
	if c.env.IsTerminal {
		fmt.Fprintf(c.env.Stderr, "\rworkflow %s %s: %d/%d succeeded, %d failed, %d cancelled, %d skipped ",
			st.ID, st.State, st.Succeeded, st.Total, st.Failed, st.Cancelled, st.Skipped)
		return
	}
	for _, s := range st.Steps {
		if seen[s.Name] != s.State {
			seen[s.Name] = s.State
			fmt.Fprintf(c.env.Stderr, "step %s %s\n", s.Name, s.State)
		}
	}
	if st.Finished != nil && seen[""] == "" {
		seen[""] = st.State
		fmt.Fprintf(c.env.Stderr, "workflow %s %s\n", st.ID, st.State)
	}
}

const workflowUsage = `Usage:
  enqueue workflow show [flags] ID     print a workflow's state, every step's state and result
  enqueue workflow cancel [flags] ID   cancel what has not finished of a workflow

Both print the workflow as GET /v1/workflows/{id} shows it (one JSON line).
Enqueue a workflow with enqueue --workflow FILE (docs/workflows.md).

Exit codes: 0 ok; 1 no such workflow, or it had ended (cancel); 2 bad input.

Flags:
`

// workflowCommand runs "enqueue workflow show|cancel ID".
func workflowCommand(ctx context.Context, args []string, env Env) int {
	c := &command{env: env}
	c.fs = pflag.NewFlagSet("enqueue workflow", pflag.ContinueOnError)
	c.fs.SetOutput(io.Discard)
	config.AddFlags(c.fs)
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, workflowUsage+c.fs.FlagUsages())
			return ExitOK
		}
		return c.usageError(err)
	}
	if c.fs.NArg() != 2 || (c.fs.Arg(0) != "show" && c.fs.Arg(0) != "cancel") {
		return c.usageError(errors.New("want: enqueue workflow show|cancel ID"))
	}
	client, _, code := c.connect(ctx)
	if client == nil {
		return code
	}
	defer c.flushSpans(ctx)
	defer client.Close()
	id := c.fs.Arg(1)
	if c.fs.Arg(0) == "cancel" {
		if err := client.CancelWorkflow(ctx, id); err != nil {
			c.errorf("%v", err)
			return ExitFailure
		}
	}
	st, err := client.Workflow(ctx, id)
	if err != nil {
		c.errorf("%v", err)
		return ExitFailure
	}
	return printJSON(env, httpapi.WorkflowViewOf(st))
}
