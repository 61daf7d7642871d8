package monitor

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/tuskq/tuskq/internal/httpserve"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/telemetry"
)

// timeouts are the limits of the HTTP server. asynqmon's heaviest calls
// (deleting or running every task of a large queue) are single requests,
// hence the generous write timeout.
var timeouts = httpserve.Timeouts{
	ReadHeader:     10 * time.Second,
	Read:           30 * time.Second,
	Write:          2 * time.Minute,
	Idle:           2 * time.Minute,
	MaxHeaderBytes: 64 << 10,
}

// Run serves the monitor on opts.Listen until ctx is cancelled, then shuts
// down gracefully: it stops accepting connections and lets requests in
// flight finish for up to opts.ShutdownTimeout before closing them. It
// returns nil after a shutdown, even one that had to close connections.
//
// Before listening it refuses a non-loopback address (an error matching
// ErrInsecureListen, whose text is the one line to show) and a malformed
// one (ErrBadOptions). Once listening it writes "monitor: serving URL
// (Redis ADDR)" to opts.Status and logs it. A Redis that does not answer
// then is reported the same way and is not an error.
func Run(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	if err := checkListen(opts.Listen, opts.Auth.Enabled()); err != nil {
		return err
	}
	h, err := New(opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := h.Close(); err != nil {
			opts.Logger.WarnContext(ctx, "closing redis connections", "error", err)
		}
	}()
	insightCtx, stopInsight := context.WithCancel(ctx)
	var insightDone sync.WaitGroup
	insightDone.Go(func() { h.RunInsight(insightCtx) })
	defer func() { stopInsight(); insightDone.Wait() }()

	return httpserve.Run(ctx, opts.Listen, httpserve.NewServer(opts.Telemetry.Handler(h, telemetry.ServiceMonitor), timeouts), httpserve.Options{
		Name: "monitor", LogName: "monitor", Logger: opts.Logger, ShutdownTimeout: opts.ShutdownTimeout,
		OnListen: func(addr net.Addr) {
			url := "http://" + addr.String() + h.RootPath() + "/"
			announce(ctx, h, opts, url, redisconn.Describe(opts.Redis))
			if opts.OnListen != nil {
				opts.OnListen(addr)
			}
		},
	})
}

// announce tells the person and the log where the UI is, and whether Redis
// answers.
func announce(ctx context.Context, h *Handler, opts Options, url, redisDesc string) {
	authDesc := ""
	if h.AuthEnabled() {
		authDesc = fmt.Sprintf("; authentication: %d users, %d tokens", len(opts.Auth.Users), len(opts.Auth.Tokens))
	}
	fmt.Fprintf(opts.Status, "monitor: serving %s (Redis %s%s)\n", url, redisDesc, authDesc)
	opts.Logger.InfoContext(ctx, "monitor serving",
		"url", url,
		"redis", redisDesc,
		"read_only", opts.ReadOnly,
		"auth", h.AuthEnabled(),
		"users", len(opts.Auth.Users),
		"tokens", len(opts.Auth.Tokens))
	if err := h.Ping(ctx); err != nil {
		fmt.Fprintf(opts.Status, "monitor: warning: Redis %s does not answer (%v); the UI shows errors until it does\n", redisDesc, err)
		opts.Logger.WarnContext(ctx, "redis unreachable at start; serving anyway",
			"redis", redisDesc,
			"error", err)
		h.health.SetReady(false)
	}
}
