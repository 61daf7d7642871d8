package workercmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

const pluginsUsage = `Usage:
  worker plugins list [--json]                  every plugin: fleet state, and each worker's
                                                loaded version, status and error
  worker plugins show NAME [--json]             one plugin: state, configuration overrides, workers
  worker plugins enable NAME [--force]          enable NAME on every worker
  worker plugins disable NAME [--force]         disable NAME on every worker: its tasks wait,
                                                without using up retries, until it is enabled
  worker plugins config NAME [KEY=JSON]... [--unset KEY]... [--force]
                                                set or remove configuration overrides of NAME
                                                (values are JSON: n=3, s='"text"', l='[1,2]'),
                                                then print them as KEY=JSON lines
  worker plugins publish DIR [--sign-key FILE]  store the wasm plugin in DIR (plugin.yaml and its
                                                entry) in Redis: every worker installs and loads it
  worker plugins rollback NAME                  make the previously published version current again

Changes reach every worker within 2 seconds. NAME must be a plugin that a worker
reports or that has fleet state; --force sets state for a plugin not deployed yet.

Exit codes: 0 ok; 1 Redis unreachable or failing; 2 bad usage, unknown plugin or bad value.

Flags:
`

// pluginsCmd is one run of "worker plugins".
type pluginsCmd struct {
	env    Env
	fs     *pflag.FlagSet
	json   bool
	force  bool
	unset  []string
	sign   string
	store  *fleetstate.Store
	stdout io.Writer
}

// pluginsCommand runs "worker plugins ARGS" and returns the exit code.
func pluginsCommand(ctx context.Context, args []string, env Env) int {
	c := &pluginsCmd{env: env, stdout: env.Stdout}
	c.fs = pflag.NewFlagSet("worker plugins", pflag.ContinueOnError)
	c.fs.SetOutput(io.Discard)
	c.fs.SortFlags = false
	c.fs.BoolVar(&c.json, "json", false, "print JSON instead of text (list, show)")
	c.fs.BoolVar(&c.force, "force", false, "act on a plugin that no worker reports and that has no fleet state (enable, disable, config)")
	c.fs.StringArrayVar(&c.unset, "unset", nil, "remove the override `KEY` (config; repeatable)")
	c.fs.StringVar(&c.sign, "sign-key", "", "sign the bundle with the Ed25519 private key in `FILE` (publish; base64 of the 32-byte seed or 64-byte key)")
	config.AddFlags(c.fs)
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, pluginsUsage+c.fs.FlagUsages())
			return cli.ExitOK
		}
		return c.usagef("%v", err)
	}
	pos := c.fs.Args()
	if len(pos) == 0 {
		return c.usagef("missing subcommand; expected list, show, enable, disable, config, publish or rollback")
	}
	sub, rest := pos[0], pos[1:]
	if sub == "help" {
		fmt.Fprint(env.Stdout, pluginsUsage+c.fs.FlagUsages())
		return cli.ExitOK
	}
	if code, ok := c.checkArgs(sub, rest); !ok {
		return code
	}
	var bundle fleetstate.Bundle
	if sub == "publish" {
		var code int
		if bundle, code = c.readBundle(rest[0]); code != cli.ExitOK {
			return code
		}
	}
	var set map[string]json.RawMessage
	if sub == "config" {
		var code int
		if set, code = c.parsePairs(rest[1:]); code != cli.ExitOK {
			return code
		}
	}
	if env.UseLogger != nil {
		// go-redis would print its dial retries on stderr besides our one
		// line about an unreachable Redis.
		env.UseLogger(slog.New(slog.DiscardHandler))
	}
	rdb, code := c.connect(ctx)
	if code != cli.ExitOK {
		return code
	}
	defer rdb.Close()
	c.store = fleetstate.NewStore(rdb)
	switch sub {
	case "list":
		return c.list(ctx)
	case "show":
		return c.show(ctx, rest[0])
	case "enable", "disable":
		return c.setEnabled(ctx, rest[0], sub == "enable")
	case "publish":
		return c.publish(ctx, bundle)
	case "rollback":
		return c.rollback(ctx, rest[0])
	}
	return c.config(ctx, rest[0], set)
}

// checkArgs checks the subcommand, its argument count and the flags it
// accepts.
func (c *pluginsCmd) checkArgs(sub string, rest []string) (int, bool) {
	switch sub {
	case "list":
		if len(rest) > 0 {
			return c.usagef("list: unexpected argument %q; list takes no arguments", rest[0]), false
		}
	case "publish":
		if len(rest) != 1 {
			return c.usagef("publish: want one plugin DIR"), false
		}
	case "show", "enable", "disable", "config", "rollback":
		if len(rest) == 0 {
			return c.usagef("%s: missing the plugin NAME", sub), false
		}
		if sub != "config" && len(rest) > 1 {
			return c.usagef("%s: unexpected argument %q; %s takes one NAME", sub, rest[1], sub), false
		}
		if err := fleetstate.ValidateName(rest[0]); err != nil {
			return c.usagef("%s: %v", sub, err), false
		}
	default:
		return c.usagef("unknown subcommand %q; expected list, show, enable, disable, config, publish or rollback", sub), false
	}
	if c.json && sub != "list" && sub != "show" {
		return c.usagef("%s: --json applies to list and show only", sub), false
	}
	if c.force && (sub == "list" || sub == "show") {
		return c.usagef("%s: --force applies to enable, disable and config only", sub), false
	}
	if c.sign != "" && sub != "publish" {
		return c.usagef("%s: --sign-key applies to publish only", sub), false
	}
	if len(c.unset) > 0 && sub != "config" {
		return c.usagef("%s: --unset applies to config only", sub), false
	}
	return cli.ExitOK, true
}

// parsePairs parses KEY=JSON arguments.
func (c *pluginsCmd) parsePairs(pairs []string) (map[string]json.RawMessage, int) {
	set := make(map[string]json.RawMessage, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, c.usagef("config: %q is not KEY=VALUE; write for example greeting='\"hi\"' or retries=3", p)
		}
		if err := fleetstate.ValidateKey(k); err != nil {
			return nil, c.usagef("config: %s: %v", p, err)
		}
		if _, dup := set[k]; dup {
			return nil, c.usagef("config: %s is given twice", k)
		}
		var x any
		if err := json.Unmarshal([]byte(v), &x); err != nil {
			return nil, c.usagef("config: %s: the value is not JSON (%v); quote a string in JSON: %s='%q'", p, err, k, v)
		}
		set[k] = json.RawMessage(v)
	}
	for _, k := range c.unset {
		if err := fleetstate.ValidateKey(k); err != nil {
			return nil, c.usagef("config: --unset %s: %v", k, err)
		}
		if _, both := set[k]; both {
			return nil, c.usagef("config: %s is both set and unset", k)
		}
	}
	return set, cli.ExitOK
}

// connect loads the configuration and checks that Redis answers.
func (c *pluginsCmd) connect(ctx context.Context) (redis.UniversalClient, int) {
	cfg, err := config.Load(config.LoadOptions{Environ: c.env.Environ, Flags: c.fs})
	if err != nil {
		fmt.Fprintln(c.env.Stderr, err)
		return nil, cli.LoadExitCode(err)
	}
	rdb, err := redisconn.Client(cfg.Redis)
	if err != nil {
		c.errorf("%v", err)
		return nil, cli.ExitUsage
	}
	timeout := cfg.Redis.DialTimeout + cfg.Redis.ReadTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		c.errorf("cannot reach Redis at %s: %v", redisconn.Describe(cfg.Redis), err)
		return nil, cli.ExitFailure
	}
	return rdb, cli.ExitOK
}

// fleet is what list and show read.
type fleet struct {
	states    map[string]fleetstate.PluginState
	workers   []fleetstate.WorkerReport
	published []fleetstate.PublishedPlugin
}

func (c *pluginsCmd) read(ctx context.Context) (fleet, int) {
	snap, err := c.store.Snapshot(ctx)
	if err != nil {
		c.errorf("%v", err)
		return fleet{}, cli.ExitFailure
	}
	workers, err := c.store.Workers(ctx)
	if err != nil {
		c.errorf("%v", err)
		return fleet{}, cli.ExitFailure
	}
	published, err := c.store.PublishedPlugins(ctx, workers)
	if err != nil {
		c.errorf("%v", err)
		return fleet{}, cli.ExitFailure
	}
	return fleet{states: snap.Plugins, workers: workers, published: published}, cli.ExitOK
}

// names returns every plugin name with state or reported by a worker.
func (f fleet) names() []string {
	set := make(map[string]bool, len(f.states))
	for n := range f.states {
		set[n] = true
	}
	for _, w := range f.workers {
		for _, p := range w.Plugins {
			if p.Name != "" {
				set[p.Name] = true
			}
		}
	}
	for _, p := range f.published {
		set[p.Name] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// known checks that name is a plugin of the fleet, and reports an unknown
// one (exit code 2) unless the subcommand takes --force and it was given.
func (c *pluginsCmd) known(f fleet, name string, forceable bool) (int, bool) {
	if slices.Contains(f.names(), name) || (forceable && c.force) {
		return cli.ExitOK, true
	}
	known := strings.Join(f.names(), ", ")
	if known == "" {
		known = "none"
	}
	hint := ""
	if forceable {
		hint = "; pass --force to act on a plugin not deployed yet"
	}
	c.errorf("unknown plugin %q: no worker reports it and it has no fleet state (known: %s)%s", name, known, hint)
	return cli.ExitUsage, false
}

func (c *pluginsCmd) setEnabled(ctx context.Context, name string, enabled bool) int {
	f, code := c.read(ctx)
	if code != cli.ExitOK {
		return code
	}
	if code, ok := c.known(f, name, true); !ok {
		return code
	}
	was, err := c.store.SetEnabled(ctx, name, enabled)
	if err != nil {
		c.errorf("%v", err)
		return cli.ExitFailure
	}
	fmt.Fprintf(c.stdout, "plugin %s %s (was %s)\n", name, enabledWord(enabled), enabledWord(was))
	return cli.ExitOK
}

func (c *pluginsCmd) config(ctx context.Context, name string, set map[string]json.RawMessage) int {
	f, code := c.read(ctx)
	if code != cli.ExitOK {
		return code
	}
	if code, ok := c.known(f, name, true); !ok {
		return code
	}
	if len(set) > 0 || len(c.unset) > 0 {
		if err := c.store.SetConfig(ctx, name, set, c.unset); err != nil {
			c.errorf("%v", err)
			return cli.ExitFailure
		}
	}
	ps, _, err := c.store.Plugin(ctx, name)
	if err != nil {
		c.errorf("%v", err)
		return cli.ExitFailure
	}
	for _, k := range slices.Sorted(maps.Keys(ps.Config)) {
		fmt.Fprintf(c.stdout, "%s=%s\n", k, ps.Config[k])
	}
	return cli.ExitOK
}

func enabledWord(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}

func (c *pluginsCmd) usagef(format string, args ...any) int {
	fmt.Fprintf(c.env.Stderr, "worker plugins: "+format+"\nRun 'worker plugins --help' for usage.\n", args...)
	return cli.ExitUsage
}

func (c *pluginsCmd) errorf(format string, args ...any) {
	fmt.Fprintf(c.env.Stderr, "worker plugins: "+format+"\n", args...)
}
