package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/telemetry"
	"github.com/tuskq/tuskq/logging"
)

// Env is what the process gives the command.
type Env struct {
	// Args are the command-line arguments without the program name.
	Args []string
	// Environ is the environment as KEY=VALUE strings (os.Environ()).
	Environ []string
	// Stdin is read by the hash-password subcommand only.
	Stdin io.Reader
	// Stdout receives help and config output; Stderr receives the status
	// lines, the JSON logs and errors.
	Stdout, Stderr io.Writer
	// OnListen, when set, is passed to Run as Options.OnListen (tests).
	OnListen func(addr net.Addr)
}

// Main runs the monitor command and returns the process exit status (see
// the package documentation). Cancelling ctx (cmd/monitor does on SIGTERM
// and SIGINT) shuts the server down gracefully.
func Main(ctx context.Context, env Env) int {
	if len(env.Args) > 0 {
		switch env.Args[0] {
		case "config":
			return cli.ConfigCommand(env.Args[1:], env.Environ, env.Stdout, env.Stderr)
		case "hash-password":
			return hashPassword(env.Args[1:], env.Stdin, env.Stdout, env.Stderr)
		}
	}
	fs, err := flagSet()
	if err != nil {
		fmt.Fprintf(env.Stderr, "monitor: %v\n", err)
		return cli.ExitFailure
	}
	if err := fs.Parse(env.Args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, usage(fs))
			return cli.ExitOK
		}
		fmt.Fprintf(env.Stderr, "monitor: %v\nRun 'monitor --help' for usage.\n", err)
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "monitor: unexpected argument %q; the monitor takes only flags and the config and hash-password subcommands\nRun 'monitor --help' for usage.\n", fs.Arg(0))
		return cli.ExitUsage
	}
	cfg, err := config.Load(config.LoadOptions{Environ: env.Environ, Flags: fs})
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return cli.ExitUsage
	}
	level, err := logging.ParseLevel(cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(env.Stderr, "monitor: log.level: %v\n", err)
		return cli.ExitUsage
	}
	logger, err := logging.New(env.Stderr, logging.Options{Level: level, Format: cfg.Log.Format})
	if err != nil {
		fmt.Fprintf(env.Stderr, "monitor: log.format: %v\n", err)
		return cli.ExitUsage
	}

	tel, err := telemetry.Setup(ctx, telemetry.Options{Config: cfg.OTel, Service: telemetry.ServiceMonitor, Environ: env.Environ})
	if err != nil {
		fmt.Fprintf(env.Stderr, "monitor: %v\n", err)
		return cli.ExitUsage
	}
	defer tel.Close(ctx, logger)

	opts := OptionsFromConfig(cfg)
	opts.Logger = logger
	opts.Telemetry = tel
	opts.Status = env.Stderr
	opts.OnListen = env.OnListen
	err = Run(ctx, opts)
	switch {
	case err == nil:
		return cli.ExitOK
	case errors.Is(err, ErrInsecureListen), errors.Is(err, ErrBadOptions):
		fmt.Fprintln(env.Stderr, err)
		return cli.ExitUsage
	default:
		fmt.Fprintln(env.Stderr, err)
		return cli.ExitFailure
	}
}

// flagSet defines the monitor's flags: the shared ones of config.AddFlags
// plus one per monitor key.
func flagSet() (*pflag.FlagSet, error) {
	fs := pflag.NewFlagSet("monitor", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	config.AddFlags(fs)
	fs.String("listen", "", "`host:port` to serve on, default 127.0.0.1:8080; loopback only without users or tokens (monitor.listen)")
	fs.String("root-path", "", "URL `path` of the UI, default / (monitor.root_path)")
	fs.Bool("read-only", false, "refuse every action that changes tasks or queues (monitor.read_only)")
	for _, b := range []struct{ flag, key string }{
		{"listen", "monitor.listen"},
		{"root-path", "monitor.root_path"},
		{"read-only", "monitor.read_only"},
	} {
		if err := config.BindFlag(fs, b.flag, b.key); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

func usage(fs *pflag.FlagSet) string {
	return "Usage:\n" +
		"  monitor [flags]                 serve the asynqmon UI until SIGTERM or SIGINT\n" +
		"  monitor hash-password           read a password on stdin, print its bcrypt hash\n" +
		"  monitor config print            print the effective configuration (secrets masked)\n" +
		"  monitor config validate FILE    check a configuration file\n\n" +
		"Endpoints: <root-path> (UI), <root-path>api/ (asynqmon API), <root-path>fleet,\n" +
		"<root-path>schedules and <root-path>limits (tuskq's pages; JSON under <root-path>api/v1/),\n" +
		"/metrics (Prometheus), /healthz (liveness), /readyz (200 when Redis answers PING,\n" +
		"503 otherwise).\n" +
		"With users (monitor.auth.users, HTTP Basic) or tokens (monitor.auth.tokens, Bearer)\n" +
		"configured, every endpoint but the health ones requires them; without, the monitor\n" +
		"listens only on loopback.\n\n" +
		"Flags:\n" + fs.FlagUsages()
}
