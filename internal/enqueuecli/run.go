package enqueuecli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/producer"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/taskspec"
	"github.com/tuskq/tuskq/internal/telemetry"
	"github.com/tuskq/tuskq/tasks"
)

// Env is the process environment of a run: its standard streams, its
// environment variables (KEY=VALUE) and whether standard error is a
// terminal (progress is shown only then).
type Env struct {
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	Environ    []string
	IsTerminal bool
}

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Exit codes of Run.
const (
	ExitOK      = cli.ExitOK      // everything was done
	ExitFailure = cli.ExitFailure // something could not be done
	ExitUsage   = cli.ExitUsage   // bad input or usage
)

const (
	// defaultWait is the --wait timeout when the flag has no value.
	defaultWait = 30 * time.Second
	// waitRetention is the retention --wait sets when none is given, so
	// that the completed task and its result can be read.
	waitRetention = time.Hour
	// pingTimeout bounds the reachability check before enqueueing.
	pingTimeout = 5 * time.Second
	// usageHint follows every usage error.
	usageHint = "run 'enqueue --help' for usage"
)

// usage is printed by --help above the flag list.
const usage = `Usage:
  enqueue [flags] TYPE [PAYLOAD | @FILE | -]   enqueue one task
  enqueue --batch [flags] < tasks.jsonl         enqueue one task per JSON line
  enqueue --workflow FILE [--wait]             enqueue a workflow (docs/workflows.md)
  enqueue workflow show|cancel ID               read or cancel a workflow
  enqueue serve [flags]                         serve the HTTP enqueue API
  enqueue cancel [flags] QUEUE ID               cancel a running task
  enqueue watch [flags]                         follow the live event log (enqueue watch --help)
  enqueue schedule add|list|show|pause|resume|remove   periodic tasks (enqueue schedule --help)
  enqueue config print | validate FILE          show or check the configuration

The payload is the argument, the contents of FILE, or standard input for "-";
empty when left out. Payloads are bytes (JSON by convention, not required).
Prints one JSON line per task: id, type, queue, state, trace_id, process_at;
with --wait also completed_at, retried, error and the result as "result" (JSON)
or "result_base64" (other bytes), as the HTTP API shows it.

With --batch each line is an object: {"type": ..., "payload": <any JSON> or
"payload_base64": "...", and options named like the flags: queue, delay, at,
max_retry, timeout, deadline, unique, unique_key, id, retention, headers
{...}, traceparent}. Option flags are defaults for every line. Lines and flags are
checked as the HTTP API checks a body (docs/api.md): every problem at once.

Bounds: --delay 0s to 1 year (8760h) and --at at most 1 year ahead; --timeout
1s to 24h, --unique and --retention 1s to 30 days (720h), whole seconds
(--unique until_end: refused while an equal task has not ended; --unique-key
alone implies it);
--max-retry 0 to 2147483647; TYPE and --id at most 200 bytes of printable UTF-8;
--queue a queue of worker.queues, a route or a running worker.

Exit codes: 0 ok; 1 could not do it (Redis unreachable, duplicate, failed or
timed-out wait); 2 bad input or usage. In a batch 1 wins over 2.

Flags:
`

// command is one run of the enqueue command.
type command struct {
	env    Env
	fs     *pflag.FlagSet
	flags  flagValues
	queues *taskspec.Queues     // the known queues, once connected
	tel    *telemetry.Telemetry // tracing, once connected; nil when off
}

// flushSpans exports the spans of the run (tracing on) before the
// command exits; a collector that does not answer is reported, not fatal.
func (c *command) flushSpans(ctx context.Context) {
	if c.tel == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetry.ShutdownTimeout)
	defer cancel()
	if err := c.tel.Shutdown(sctx); err != nil {
		c.errorf("warning: %v", err)
	}
}

// flagValues are the command's own flags, as given.
type flagValues struct {
	queue, delay, at, maxRetry, timeout, deadline string
	unique, uniqueKey, id, retention, traceparent string
	wait, workflow                                string
	headers                                       []string
	batch                                         bool
	parallelism                                   int
}

// Run runs the enqueue command with args (without the program name) and
// returns the exit code. It reads env and nothing else of the process.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) > 0 && args[0] == "config" {
		return cli.ConfigCommand(args[1:], env.Environ, env.Stdout, env.Stderr)
	}
	if len(args) > 0 && args[0] == "serve" {
		return Serve(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "cancel" {
		return Cancel(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "workflow" {
		return workflowCommand(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "schedule" {
		return scheduleCommand(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "watch" {
		return Watch(ctx, args[1:], env)
	}
	c := &command{env: env}
	return c.run(ctx, args)
}

func (c *command) run(ctx context.Context, args []string) int {
	c.fs = c.newFlagSet()
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(c.env.Stdout, usage+c.fs.FlagUsages())
			return ExitOK
		}
		return c.usageError(err)
	}
	opts, tp, err := c.options()
	if err != nil {
		return c.usageError(err)
	}
	if c.fs.Changed("workflow") {
		return c.workflow(withTraceparent(ctx, tp))
	}
	if c.flags.batch {
		return c.batch(ctx, defaults{opts: opts, traceparent: tp})
	}
	return c.single(withTraceparent(ctx, tp), opts)
}

// batch checks the command line of a --batch run and runs it.
func (c *command) batch(ctx context.Context, def defaults) int {
	if c.fs.NArg() > 0 {
		return c.usageError(fmt.Errorf("--batch reads tasks from standard input and takes no arguments (got %q)", c.fs.Arg(0)))
	}
	for _, f := range []struct{ name, fix string }{
		{"wait", "enqueue one task to wait for it"},
		{"id", `set "id" on each line`},
	} {
		if c.fs.Changed(f.name) {
			return c.usageError(fmt.Errorf("--%s cannot be used with --batch; %s", f.name, f.fix))
		}
	}
	if c.flags.parallelism < 1 {
		return c.usageError(badValue("--parallelism", "%d is less than 1", c.flags.parallelism))
	}
	client, cfg, code := c.connect(ctx)
	if client == nil {
		return code
	}
	defer c.flushSpans(ctx)
	defer client.Close()
	return c.runBatch(ctx, client, cfg, def)
}

// single checks the command line of a one-task run and runs it.
func (c *command) single(ctx context.Context, opts tasks.EnqueueOptions) int {
	if c.fs.Changed("parallelism") {
		return c.usageError(errors.New("--parallelism applies only with --batch"))
	}
	taskType, payload, code := c.singleArgs()
	if code != ExitOK {
		return code
	}
	var wait time.Duration
	if c.fs.Changed("wait") {
		var err error
		if wait, err = parseTimeout("--wait", c.flags.wait); err != nil {
			return c.usageError(err)
		}
		if opts.Retention == 0 {
			opts.Retention = waitRetention
		}
	}
	client, cfg, code := c.connect(ctx)
	if client == nil {
		return code
	}
	defer c.flushSpans(ctx)
	defer client.Close()
	return c.runSingle(ctx, client, cfg, taskType, payload, opts, wait)
}

func (c *command) newFlagSet() *pflag.FlagSet {
	fs := pflag.NewFlagSet("enqueue", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	f := &c.flags
	fs.StringVar(&f.queue, "queue", "", "queue to put the task in (default: the route's, else \"default\")")
	fs.StringVar(&f.delay, "delay", "", "process after this `DURATION` (e.g. 30s, 1h30m; at most 1 year)")
	fs.StringVar(&f.at, "at", "", "process at this `RFC3339` time (e.g. 2026-01-02T15:04:05Z; at most 1 year ahead)")
	fs.StringVar(&f.maxRetry, "max-retry", "", "retries before the task is archived (`N` from 0 to 2147483647; default: the route's, else 25)")
	fs.StringVar(&f.timeout, "timeout", "", "bound one attempt to this `DURATION` (whole seconds, 1s to 24h)")
	fs.StringVar(&f.deadline, "deadline", "", "fail attempts after this `RFC3339` time")
	fs.StringVar(&f.unique, "unique", "", "reject an equal task (type, queue, payload; or queue and --unique-key) for this `DURATION` (1s to 720h), or until_end: while it has not ended")
	fs.StringVar(&f.uniqueKey, "unique-key", "", "an equal task is one of the same queue and `KEY`; alone, refused until the task ends")
	fs.StringVar(&f.id, "id", "", "task `ID` (default: a generated UUID)")
	fs.StringVar(&f.retention, "retention", "", "keep the completed task and its result this `DURATION` (1s to 720h)")
	fs.StringArrayVar(&f.headers, "header", nil, "task header `KEY=VALUE` (repeatable)")
	fs.StringVar(&f.traceparent, "traceparent", "", "continue this W3C `TRACEPARENT` instead of starting a trace")
	fs.BoolVar(&f.batch, "batch", false, "read tasks as JSON lines from standard input")
	fs.StringVar(&f.workflow, "workflow", "", "enqueue the workflow of JSON `FILE` (- for standard input; docs/workflows.md)")
	fs.IntVar(&f.parallelism, "parallelism", tasks.DefaultParallelism, "with --batch, at most `N` enqueues in flight at once")
	fs.StringVar(&f.wait, "wait", "", "wait up to `TIMEOUT` for the task to finish and print its result (--wait=2m; 30s without a value)")
	fs.Lookup("wait").NoOptDefVal = defaultWait.String()
	config.AddFlags(fs)
	return fs
}

// flagFields are the option flags and the task fields they set.
var flagFields = []struct{ flag, field string }{
	{"queue", taskspec.FieldQueue}, {"delay", taskspec.FieldDelay}, {"at", taskspec.FieldAt},
	{"max-retry", taskspec.FieldMaxRetry}, {"timeout", taskspec.FieldTimeout}, {"deadline", taskspec.FieldDeadline},
	{"unique", taskspec.FieldUnique}, {"unique-key", taskspec.FieldUniqueKey}, {"id", taskspec.FieldID}, {"retention", taskspec.FieldRetention},
	{"traceparent", taskspec.FieldTraceparent},
}

// options turns the option flags into enqueue options and a traceparent,
// through the decoder and checks of every door (taskspec), reporting
// every bad flag at once.
func (c *command) options() (tasks.EnqueueOptions, string, error) {
	var d taskspec.Decoder
	for _, ff := range flagFields {
		if c.fs.Changed(ff.flag) {
			d.Text(ff.field, c.fs.Lookup(ff.flag).Value.String())
		}
	}
	for _, kv := range c.flags.headers {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return tasks.EnqueueOptions{}, "", badValue("--header", "%q is not key=value", kv)
		}
		d.Header(k, v)
	}
	if c.fs.Changed("delay") && c.fs.Changed("at") {
		return tasks.EnqueueOptions{}, "", errors.New("--delay and --at cannot be used together; pick one")
	}
	t, probs := d.Result(time.Now())
	if len(probs) > 0 {
		return tasks.EnqueueOptions{}, "", flagProblems(probs)
	}
	o := tasks.EnqueueOptions(t.Options)
	// The traceparent is the trace of the enqueue, not a header of its own.
	delete(o.Headers, tasks.HeaderTraceparent)
	if len(o.Headers) == 0 {
		o.Headers = nil
	}
	return o, c.flags.traceparent, nil
}

// singleArgs checks TYPE and reads the payload.
func (c *command) singleArgs() (string, []byte, int) {
	args := c.fs.Args()
	switch {
	case len(args) == 0:
		return "", nil, c.usageError(errors.New("missing task type: enqueue TYPE [PAYLOAD | @FILE | -]"))
	case args[0] == "config" && c.fs.ArgsLenAtDash() != 0:
		return "", nil, c.usageError(errors.New(`"config" must come first: enqueue config print [flags]; to enqueue a task of type "config" write enqueue [flags] -- config`))
	case len(args) > 2:
		return "", nil, c.usageError(fmt.Errorf("too many arguments (%d): want TYPE and at most one PAYLOAD; quote a payload that has spaces", len(args)))
	}
	if msg := taskspec.CheckType(args[0]); msg != "" {
		return "", nil, c.usageError(badValue("TYPE", "%s", msg))
	}
	if len(args) == 1 {
		return args[0], nil, ExitOK
	}
	payload, err := c.readPayload(args[1])
	if err != nil {
		c.errorf("%v", err)
		return "", nil, ExitUsage
	}
	return args[0], payload, ExitOK
}

// readPayload returns the payload named by the PAYLOAD argument.
func (c *command) readPayload(arg string) ([]byte, error) {
	switch {
	case arg == "-":
		p, err := io.ReadAll(c.env.Stdin)
		if err != nil {
			return nil, fmt.Errorf("payload from standard input: %w", err)
		}
		return p, nil
	case strings.HasPrefix(arg, "@"):
		if arg == "@" {
			return nil, errors.New("payload: \"@\" names no file; write @PATH")
		}
		p, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("payload file: %w", err)
		}
		return p, nil
	default:
		return []byte(arg), nil
	}
}

// connect loads the configuration, builds the client and checks that Redis
// answers. On failure it reports the problem and returns a nil client and
// the exit code.
func (c *command) connect(ctx context.Context) (*tasks.Client, config.Config, int) {
	cfg, err := config.Load(config.LoadOptions{Environ: c.env.Environ, Flags: c.fs})
	if err != nil {
		c.errorf("%v", err)
		// As in the config subcommand: an unreadable file is a failure,
		// anything else an invalid configuration.
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			return nil, cfg, ExitFailure
		}
		return nil, cfg, ExitUsage
	}
	connOpt, err := redisconn.ProducerConnOpt(cfg.Redis)
	if err != nil {
		c.errorf("%v", err)
		return nil, cfg, ExitUsage
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{Config: cfg.OTel, Service: telemetry.ServiceEnqueue, Environ: c.env.Environ})
	if err != nil {
		c.errorf("%v", err)
		return nil, cfg, ExitUsage
	}
	copts := producer.ClientOptions(cfg)
	copts.TracerProvider = tel.TracerProvider()
	c.tel = tel
	client, err := tasks.NewClient(tel.RedisConnOpt(connOpt), copts)
	if err != nil {
		c.flushSpans(ctx)
		c.errorf("%v", err)
		return nil, cfg, ExitUsage
	}
	if err := ping(ctx, client); err != nil {
		c.flushSpans(ctx)
		client.Close()
		c.errorf("cannot reach Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
		return nil, cfg, ExitFailure
	}
	return client, cfg, ExitOK
}

// ping checks Redis with a short timeout.
func ping(ctx context.Context, client *tasks.Client) error {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := client.Ping(pctx)
	if err != nil && errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("no answer within %s", pingTimeout)
	}
	return err
}

// usageError reports a usage error with the usage hint and returns
// ExitUsage.
func (c *command) usageError(err error) int {
	c.errorf("%v", err)
	fmt.Fprintln(c.env.Stderr, usageHint)
	return ExitUsage
}

// errorf writes "enqueue: msg" on standard error, each line of a
// multi-line message prefixed.
func (c *command) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		fmt.Fprintf(c.env.Stderr, "enqueue: %s\n", line)
	}
}
