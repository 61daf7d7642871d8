package workercmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/internal/redisconn"
)

const limitsUsage = `Usage:
  worker limits list [--json]        every effective limit: the configured ones and
                                     those set at run time (source config or override)
  worker limits set NAME [--type PATTERN] [--queue QUEUE] [--concurrency N]
                    [--rate N/PERIOD] [--burst N] [--key payload.FIELD|header.NAME|host(payload.FIELD)]
                    [--max-keys N]
                                     set limit NAME on every worker, replacing the
                                     configured limit of that name until cleared
  worker limits clear NAME           remove the run-time limit NAME: the configured
                                     one of that name, if any, applies again

Changes reach every worker within 2 seconds.

Exit codes: 0 ok; 1 Redis unreachable or failing; 2 bad usage or bad limit.

Flags:
`

// limitsCmd is one run of "worker limits".
type limitsCmd struct {
	env  Env
	fs   *pflag.FlagSet
	json bool
	raw  limits.Raw
}

// limitsCommand runs "worker limits ARGS" and returns the exit code.
func limitsCommand(ctx context.Context, args []string, env Env) int {
	c := &limitsCmd{env: env}
	c.fs = pflag.NewFlagSet("worker limits", pflag.ContinueOnError)
	c.fs.SetOutput(io.Discard)
	c.fs.SortFlags = false
	c.fs.BoolVar(&c.json, "json", false, "print JSON instead of text (list)")
	c.fs.StringVar(&c.raw.Type, "type", "", "task type or prefix `PATTERN` such as report:* (set)")
	c.fs.StringVar(&c.raw.Queue, "queue", "", "only tasks of `QUEUE` (set)")
	c.fs.StringVar(&c.raw.Concurrency, "concurrency", "", "at most `N` running at once in the fleet (set)")
	c.fs.StringVar(&c.raw.Rate, "rate", "", "at most `N/PERIOD` starts: 100/s, 50/m, 10/h (set)")
	c.fs.StringVar(&c.raw.Burst, "burst", "", "starts allowed at once with --rate (set; default 1)")
	c.fs.StringVar(&c.raw.Key, "key", "", "apply per value of payload.FIELD or header.NAME, or per URL host with host(payload.FIELD) (set)")
	c.fs.StringVar(&c.raw.MaxKeys, "max-keys", "", "key values tracked with --key (set; default 10000)")
	config.AddFlags(c.fs)
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, limitsUsage+c.fs.FlagUsages())
			return cli.ExitOK
		}
		return c.usagef("%v", err)
	}
	pos := c.fs.Args()
	if len(pos) == 0 {
		return c.usagef("missing subcommand; expected list, set or clear")
	}
	sub, rest := pos[0], pos[1:]
	setFlags := c.raw != (limits.Raw{})
	var lim limits.Limit
	switch sub {
	case "help":
		fmt.Fprint(env.Stdout, limitsUsage+c.fs.FlagUsages())
		return cli.ExitOK
	case "list":
		if len(rest) > 0 {
			return c.usagef("list: unexpected argument %q; list takes no arguments", rest[0])
		}
		if setFlags {
			return c.usagef("list: --type, --queue, --concurrency, --rate, --burst, --key and --max-keys apply to set only")
		}
	case "set", "clear":
		if len(rest) != 1 {
			return c.usagef("%s: expected one limit NAME", sub)
		}
		if c.json {
			return c.usagef("%s: --json applies to list only", sub)
		}
		if sub == "clear" && setFlags {
			return c.usagef("clear: takes only the limit NAME")
		}
		if sub == "set" {
			c.raw.Name = rest[0]
			var err error
			if lim, err = limits.Parse(c.raw); err != nil {
				return c.usagef("set: %s", strings.TrimPrefix(err.Error(), limits.ErrBadLimit.Error()+": "))
			}
		}
	default:
		return c.usagef("unknown subcommand %q; expected list, set or clear", sub)
	}
	if env.UseLogger != nil {
		env.UseLogger(slog.New(slog.DiscardHandler))
	}
	cfg, err := config.Load(config.LoadOptions{Environ: env.Environ, Flags: c.fs})
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return cli.LoadExitCode(err)
	}
	rdb, err := redisconn.Client(cfg.Redis)
	if err != nil {
		fmt.Fprintf(env.Stderr, "worker limits: %v\n", err)
		return cli.ExitUsage
	}
	defer rdb.Close()
	timeout := max(cfg.Redis.DialTimeout+cfg.Redis.ReadTimeout, 5*time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	store := limits.NewStore(rdb)
	switch sub {
	case "list":
		configured, err := cfg.ParsedLimits()
		if err != nil {
			return c.usagef("%v", err)
		}
		entries, err := store.List(ctx, configured)
		if err != nil {
			return c.failf("cannot read the limits from Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
		}
		return c.print(entries)
	case "set":
		if err := store.Set(ctx, lim); err != nil {
			return c.failf("cannot set limit %s in Redis at %s: %v", lim.Name, redisconn.Describe(cfg.Redis), err)
		}
		fmt.Fprintf(env.Stdout, "limit %s set on every worker\n", lim.Name)
		return cli.ExitOK
	}
	found, err := store.Clear(ctx, rest[0])
	if err != nil {
		return c.failf("cannot clear limit %s in Redis at %s: %v", rest[0], redisconn.Describe(cfg.Redis), err)
	}
	if !found {
		fmt.Fprintf(env.Stdout, "limit %s had no run-time value; nothing changed\n", rest[0])
		return cli.ExitOK
	}
	fmt.Fprintf(env.Stdout, "limit %s cleared on every worker\n", rest[0])
	return cli.ExitOK
}

// print writes the entries as a table or JSON.
func (c *limitsCmd) print(entries []limits.Entry) int {
	if c.json {
		if entries == nil {
			entries = []limits.Entry{}
		}
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"limits": entries})
		return cli.ExitOK
	}
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tQUEUE\tCONCURRENCY\tRATE\tBURST\tKEY\tSOURCE")
	for _, e := range entries {
		r := e.Raw
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, dash(r.Type), dash(r.Queue), dash(r.Concurrency), dash(r.Rate), dash(r.Burst), dash(r.Key), e.Source)
	}
	_ = tw.Flush()
	return cli.ExitOK
}

func (c *limitsCmd) usagef(format string, args ...any) int {
	fmt.Fprintf(c.env.Stderr, "worker limits: "+format+" (see worker limits --help)\n", args...)
	return cli.ExitUsage
}

func (c *limitsCmd) failf(format string, args ...any) int {
	fmt.Fprintf(c.env.Stderr, "worker limits: "+format+"\n", args...)
	return cli.ExitFailure
}
