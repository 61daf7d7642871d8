package enqueuecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/events"
	"github.com/tuskq/tuskq/internal/redisconn"
)

const watchUsage = `Usage:
  enqueue watch [flags]   follow the live event log

Prints one line per event as it happens: enqueued, started, progress,
succeeded, failed, retrying, archived, cancelled, deferred, requeued, and
workflow step released and finished. --format json (the default) prints
the event as JSON with its "cursor"; pass a cursor to --from to continue
after it. --format text prints readable lines. Producers and workers write
events only while someone watches (events.publish auto): the first second
after the first watcher starts may be missing.

Exit codes: 0 stopped (interrupt, or --count events printed); 1 Redis
failed; 2 bad input.

Flags:
`

// WatchLine is a line of "enqueue watch --format json": the event and the
// cursor after it.
type WatchLine struct {
	events.Event
	// Cursor is the position after this event, for --from.
	Cursor string `json:"cursor"`
}

// Watch runs "enqueue watch" with args (after "watch") and returns the
// exit code.
func Watch(ctx context.Context, args []string, env Env) int {
	fs := pflag.NewFlagSet("enqueue watch", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	queues := fs.StringArray("queue", nil, "follow only `QUEUE` (repeatable); every queue by default")
	types := fs.StringArray("type", nil, "only events of task `TYPE` (repeatable)")
	task := fs.String("task", "", "only events of task `ID`")
	workflow := fs.String("workflow", "", "only events of workflow `ID`")
	format := fs.String("format", "json", "`FORMAT` of the lines: json or text")
	from := fs.String("from", "", "start after `CURSOR` (a line's cursor) instead of now")
	count := fs.Int("count", 0, "stop after `N` events (0: run until interrupted)")
	config.AddFlags(fs)
	usageErr := func(err error) int {
		fmt.Fprintf(env.Stderr, "enqueue watch: %v\nrun 'enqueue watch --help' for usage\n", err)
		return ExitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, watchUsage+fs.FlagUsages())
			return ExitOK
		}
		return usageErr(err)
	}
	switch {
	case fs.NArg() > 0:
		return usageErr(fmt.Errorf("unexpected argument %q; filters are flags (--queue, --type, --task, --workflow)", fs.Arg(0)))
	case *format != "json" && *format != "text":
		return usageErr(fmt.Errorf("--format: %q; use json or text", *format))
	case *count < 0:
		return usageErr(fmt.Errorf("--count: %d is negative; use 0 to run until interrupted", *count))
	}
	for _, q := range append(append([]string{}, *queues...), *types...) {
		if strings.TrimSpace(q) == "" {
			return usageErr(errors.New("--queue and --type need a value"))
		}
	}
	if *from != "" {
		if _, err := events.ParseCursor(*from); err != nil {
			return usageErr(fmt.Errorf("--from: %w", err))
		}
	}
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
	r, err := events.NewReader(ctx, rdb, events.ReaderOptions{
		Filter: events.Filter{Queues: *queues, Types: *types, TaskID: *task, WorkflowID: *workflow},
		Cursor: *from,
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "enqueue watch: Redis at %s: %v\n", redisconn.Describe(cfg.Redis), err)
		return ExitFailure
	}
	printed := 0
	for {
		items, err := r.Next(ctx)
		if ctx.Err() != nil {
			return ExitOK
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "enqueue watch: Redis at %s: %v\n", redisconn.Describe(cfg.Redis), err)
			return ExitFailure
		}
		for _, it := range items {
			var line []byte
			if *format == "json" {
				line, _ = json.Marshal(WatchLine{Event: it.Event, Cursor: it.Cursor}) // plain fields: cannot fail
			} else {
				line = []byte(textLine(it.Event))
			}
			if _, err := env.Stdout.Write(append(line, '\n')); err != nil {
				fmt.Fprintf(env.Stderr, "enqueue watch: write output: %v\n", err)
				return ExitFailure
			}
			if printed++; *count > 0 && printed >= *count {
				return ExitOK
			}
		}
	}
}

// textLine is the readable line of an event.
func textLine(ev events.Event) string {
	var b strings.Builder
	b.WriteString(ev.Time.UTC().Format("15:04:05.000"))
	b.WriteString("  ")
	fmt.Fprintf(&b, "%-22s %s", ev.Kind, ev.Queue)
	if ev.TaskType != "" {
		b.WriteString(" " + ev.TaskType)
	}
	if ev.TaskID != "" {
		b.WriteString(" " + ev.TaskID)
	}
	if ev.WorkflowID != "" {
		b.WriteString(" workflow=" + ev.WorkflowID)
	}
	if ev.Step != "" {
		b.WriteString(" step=" + ev.Step)
	}
	if ev.Attempt > 0 {
		b.WriteString(" attempt=" + strconv.Itoa(ev.Attempt))
	}
	if ev.Kind == events.KindProgress {
		fmt.Fprintf(&b, " %g%%", ev.Percent)
		if ev.Message != "" {
			b.WriteString(" " + strconv.Quote(ev.Message))
		}
	}
	if ev.State != "" {
		b.WriteString(" state=" + ev.State)
	}
	if ev.Error != "" {
		b.WriteString(" error=" + strconv.Quote(ev.Error))
	}
	if ev.TraceID != "" {
		b.WriteString(" trace_id=" + ev.TraceID)
	}
	return b.String()
}

// progressShown draws a task's progress on standard error while --wait
// waits: a bar redrawn in place on a terminal, a plain line per change
// otherwise.
type progressShown struct {
	w        io.Writer
	terminal bool
	drawn    bool
	last     time.Time
}

// show draws p.
func (s *progressShown) show(p events.Progress) {
	if !p.UpdatedAt.After(s.last) {
		return
	}
	s.last = p.UpdatedAt
	if !s.terminal {
		if p.Message != "" {
			fmt.Fprintf(s.w, "progress %g%% %s\n", p.Percent, p.Message)
		} else {
			fmt.Fprintf(s.w, "progress %g%%\n", p.Percent)
		}
		return
	}
	const width = 30
	full := int(p.Percent / 100 * width)
	msg := p.Message
	if len(msg) > 40 {
		msg = msg[:40]
	}
	fmt.Fprintf(s.w, "\r\033[K[%s%s] %3.0f%% %s", strings.Repeat("#", full), strings.Repeat(".", width-full), p.Percent, msg)
	s.drawn = true
}

// done ends the bar's line.
func (s *progressShown) done() {
	if s.drawn {
		fmt.Fprintln(s.w)
		s.drawn = false
	}
}
