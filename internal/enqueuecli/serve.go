package enqueuecli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/cli"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/telemetry"
	"github.com/tuskq/tuskq/logging"
)

// serveUsage is printed by "enqueue serve --help" above the flag list.
const serveUsage = `Usage:
  enqueue serve [flags]     serve the HTTP enqueue API until SIGTERM or SIGINT

Endpoints (see docs/api.md and GET /v1/openapi.yaml):
  POST   /v1/tasks                       enqueue one task
  POST   /v1/tasks/batch                 enqueue many, a result per task
  GET    /v1/queues/{queue}/tasks/{id}   state, retries, last error, result
  DELETE /v1/queues/{queue}/tasks/{id}   delete, or cancel a running task
  GET|PUT|DELETE /v1/schedules[/{name}]  periodic tasks; POST .../{name}/pause|resume
  GET    /v1/openapi.yaml, /healthz, /readyz

Without api.tokens the API listens only on loopback. Other api keys
(tokens, max_body_bytes, max_batch, idempotency_ttl) come from the config
file, TUSKQ_API_* or --set api.KEY=VALUE.

Exit codes: 0 after a clean shutdown; 1 when it cannot serve (address in
use); 2 for a usage or configuration error, a non-loopback address without
tokens included.

Flags:
`

// Serve runs "enqueue serve" with args (after "serve") and returns the exit
// code. Cancelling ctx shuts the server down gracefully.
func Serve(ctx context.Context, args []string, env Env) int {
	fs := pflag.NewFlagSet("enqueue serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.String("listen", "", "`host:port` to serve on, default 127.0.0.1:8090 (api.listen)")
	config.AddFlags(fs)
	if err := config.BindFlag(fs, "listen", "api.listen"); err != nil {
		fmt.Fprintf(env.Stderr, "enqueue serve: %v\n", err)
		return ExitFailure
	}
	serveError := func(err error) int {
		fmt.Fprintf(env.Stderr, "enqueue serve: %v\nrun 'enqueue serve --help' for usage\n", err)
		return ExitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(env.Stdout, serveUsage+fs.FlagUsages())
			return ExitOK
		}
		return serveError(err)
	}
	if fs.NArg() > 0 {
		return serveError(fmt.Errorf("unexpected argument %q; serve takes only flags", fs.Arg(0)))
	}
	cfg, err := config.Load(config.LoadOptions{Environ: env.Environ, Flags: fs})
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
		return cli.LoadExitCode(err)
	}
	level, err := logging.ParseLevel(cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(env.Stderr, "enqueue serve: log.level: %v\n", err)
		return ExitUsage
	}
	logger, err := logging.New(env.Stderr, logging.Options{Level: level, Format: cfg.Log.Format})
	if err != nil {
		fmt.Fprintf(env.Stderr, "enqueue serve: log.format: %v\n", err)
		return ExitUsage
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{Config: cfg.OTel, Service: telemetry.ServiceAPI, Environ: env.Environ})
	if err != nil {
		fmt.Fprintf(env.Stderr, "enqueue serve: %v\n", err)
		return ExitUsage
	}
	defer tel.Close(ctx, logger)
	err = httpapi.Run(ctx, httpapi.Options{Config: cfg, Logger: logger, Status: env.Stderr, Telemetry: tel})
	var ve *config.ValidationError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, httpapi.ErrInsecureListen), errors.Is(err, httpapi.ErrBadOptions), errors.As(err, &ve):
		fmt.Fprintln(env.Stderr, err)
		return ExitUsage
	default:
		fmt.Fprintln(env.Stderr, err)
		return ExitFailure
	}
}
