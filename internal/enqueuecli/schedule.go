package enqueuecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/schedule"
	"github.com/tuskq/tuskq/internal/scheduler"
)

// scheduleUsage is printed by "enqueue schedule --help".
const scheduleUsage = `Usage:
  enqueue schedule add NAME --cron SPEC [flags] TYPE [PAYLOAD | @FILE]
                                  add or replace a periodic task, fleet-wide
  enqueue schedule list           one JSON line per schedule
  enqueue schedule show NAME      the schedule, its next tick and last run
  enqueue schedule pause NAME     stop enqueueing its ticks, fleet-wide
  enqueue schedule resume NAME    enqueue its ticks again
  enqueue schedule remove NAME    remove a run-time schedule

Schedules live in Redis: every worker with worker.scheduler on (the default)
picks a change up within a second, and each tick is enqueued once however
many workers run. The fields are those of the schedules section of the
configuration and of PUT /v1/schedules/{name} (docs/configuration.md): add's
flags name them. A schedule of the configuration can be paused and resumed
here, not replaced or removed.

Exit codes: 0 ok; 1 could not do it (Redis unreachable, no such schedule, a
schedule of the configuration); 2 bad input or usage.

Flags of add:
`

// scheduleCommand runs "enqueue schedule ..." with args after "schedule".
func scheduleCommand(ctx context.Context, args []string, env Env) int {
	fs := pflag.NewFlagSet("enqueue schedule", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fields := map[string]*string{}
	for _, f := range []struct{ name, help string }{
		{schedule.FieldCron, "cron spec: six fields with seconds, five without, @hourly, @every 10s (required)"},
		{schedule.FieldTimeZone, "IANA time zone of the cron fields (default UTC)"},
		{schedule.FieldJitter, "random delay below this for each tick's task"},
		{schedule.FieldMissed, "missed ticks: skip (default), once or all"},
		{schedule.FieldOverlap, "allow (default), or skip a tick while the previous one runs"},
		{"queue", "queue of the tasks"},
		{"max_retry", "retries before a task is archived"},
		{"timeout", "per-attempt timeout"},
		{"unique", "uniqueness window of each task"},
		{"retention", "how long a completed task is kept (at least 5m)"},
	} {
		fields[f.name] = fs.String(strings.ReplaceAll(f.name, "_", "-"), "", f.help)
	}
	headers := fs.StringArray("header", nil, "task header `KEY=VALUE` (repeatable)")
	config.AddFlags(fs)
	usageErr := func(err error) int {
		fmt.Fprintf(env.Stderr, "enqueue schedule: %v\nrun 'enqueue schedule --help' for usage\n", err)
		return ExitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, scheduleUsage+fs.FlagUsages())
			return ExitOK
		}
		return usageErr(err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usageErr(errors.New("name a subcommand: add, list, show, pause, resume or remove"))
	}
	sub, rest := rest[0], rest[1:]
	want := map[string][2]int{"add": {2, 3}, "list": {0, 0}, "show": {1, 1}, "pause": {1, 1}, "resume": {1, 1}, "remove": {1, 1}}
	n, ok := want[sub]
	switch {
	case !ok:
		return usageErr(fmt.Errorf("unknown subcommand %q; use add, list, show, pause, resume or remove", sub))
	case len(rest) < n[0] || len(rest) > n[1]:
		return usageErr(fmt.Errorf("%s takes %s", sub, map[string]string{
			"add": "NAME TYPE [PAYLOAD]", "list": "no arguments", "show": "NAME", "pause": "NAME", "resume": "NAME", "remove": "NAME",
		}[sub]))
	}
	var def *schedule.Schedule
	if sub == "add" {
		obj := map[string]any{"type": rest[1]}
		for name, v := range fields {
			if fs.Changed(strings.ReplaceAll(name, "_", "-")) {
				obj[name] = *v
			}
		}
		if v, ok := obj["max_retry"].(string); ok {
			obj["max_retry"] = json.RawMessage(v)
		}
		if len(*headers) > 0 {
			hs := map[string]string{}
			for _, h := range *headers {
				k, v, ok := strings.Cut(h, "=")
				if !ok {
					return usageErr(fmt.Errorf("--header %q: use KEY=VALUE", h))
				}
				hs[k] = v
			}
			obj["headers"] = hs
		}
		if len(rest) == 3 {
			p := []byte(rest[2])
			if name, ok := strings.CutPrefix(rest[2], "@"); ok {
				b, err := os.ReadFile(name)
				if err != nil {
					return usageErr(fmt.Errorf("PAYLOAD: %w", err))
				}
				p = b
			}
			if json.Valid(p) {
				obj["payload"] = json.RawMessage(p)
			} else {
				obj["payload_base64"] = p
			}
		}
		js, err := json.Marshal(obj)
		if err != nil {
			return usageErr(fmt.Errorf("max_retry: not a whole number"))
		}
		s, probs := schedule.Decode(rest[0], js, "")
		if len(probs) > 0 {
			for _, p := range probs {
				fmt.Fprintf(env.Stderr, "enqueue schedule: %s: %s\n", scheduleFlagName(p.Field), p.Detail)
			}
			fmt.Fprintln(env.Stderr, "run 'enqueue schedule --help' for usage")
			return ExitUsage
		}
		def = s
	}
	cfg, err := config.Load(config.LoadOptions{Environ: env.Environ, Flags: fs})
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return cli.LoadExitCode(err)
	}
	rdb, err := redisconn.Client(cfg.Redis)
	if err != nil {
		fmt.Fprintf(env.Stderr, "enqueue schedule: %v\n", err)
		return ExitUsage
	}
	defer rdb.Close()
	store := scheduler.NewStore(rdb)
	fail := func(err error) int {
		fmt.Fprintf(env.Stderr, "enqueue schedule: %s\n", strings.TrimPrefix(err.Error(), "scheduler: "))
		return ExitFailure
	}
	show := func(name string) int {
		e, err := store.Get(ctx, name, time.Now())
		if err != nil {
			return fail(err)
		}
		return printJSON(env, httpapi.ViewOf(e))
	}
	switch sub {
	case "add":
		if _, err := store.Put(ctx, def, scheduler.SourceAPI); err != nil {
			return fail(err)
		}
		return show(def.Name)
	case "list":
		list, err := store.List(ctx, time.Now())
		if err != nil && list == nil {
			return fail(err)
		}
		for _, e := range list {
			printJSON(env, httpapi.ViewOf(e))
		}
		if err != nil {
			return fail(err)
		}
		return ExitOK
	case "show":
		return show(rest[0])
	case "pause", "resume":
		op := store.Pause
		if sub == "resume" {
			op = store.Resume
		}
		if err := op(ctx, rest[0]); err != nil {
			return fail(err)
		}
		return show(rest[0])
	default: // remove
		if err := store.Remove(ctx, rest[0], scheduler.SourceAPI); err != nil {
			return fail(err)
		}
		return printJSON(env, map[string]any{"name": rest[0], "removed": true})
	}
}

// scheduleFlagName names a schedule field as the command line gives it.
func scheduleFlagName(field string) string {
	switch field {
	case "type":
		return "TYPE"
	case "payload", "payload_base64":
		return "PAYLOAD"
	case "name":
		return "NAME"
	}
	if rest, ok := strings.CutPrefix(field, "headers."); ok {
		return "--header " + rest
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

func printJSON(env Env, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(env.Stderr, "enqueue schedule: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintln(env.Stdout, string(b))
	return ExitOK
}
