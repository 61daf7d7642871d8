package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tuskq/tuskq/internal/redisconn"
)

// Timeouts of the HTTP server. asynqmon's heaviest calls (deleting or
// running every task of a large queue) are single requests, hence the
// generous write timeout.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Run serves the monitor on opts.Listen until ctx is cancelled, then shuts
// down gracefully: it stops accepting connections and lets requests in
// flight finish for up to opts.ShutdownTimeout before closing them. It
// returns nil after a shutdown, even one that had to close connections.
//
// Before listening it refuses a non-loopback address (an error matching
// ErrInsecureListen, whose text is the one line to show) and a malformed
// one (ErrInvalidOptions). Once listening it writes "monitor: serving URL
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
			opts.Logger.Warn("closing redis connections", slog.String("error", err.Error()))
		}
	}()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("monitor: cannot listen on %s: %w", opts.Listen, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + h.RootPath() + "/"
	announce(ctx, h, opts, url, redisconn.Describe(opts.Redis))
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("monitor: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	opts.Logger.Info("monitor shutting down",
		slog.String("reason", context.Cause(ctx).Error()),
		slog.String("timeout", opts.ShutdownTimeout.String()))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		opts.Logger.Warn("requests still running at the shutdown timeout were cut off",
			slog.String("error", err.Error()))
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("monitor: serve on %s: %w", ln.Addr(), err)
	}
	opts.Logger.Info("monitor stopped")
	return nil
}

// announce tells the person and the log where the UI is, and whether Redis
// answers.
func announce(ctx context.Context, h *Handler, opts Options, url, redisDesc string) {
	authDesc := ""
	if h.AuthEnabled() {
		authDesc = fmt.Sprintf("; authentication: %d users, %d tokens", len(opts.Auth.Users), len(opts.Auth.Tokens))
	}
	fmt.Fprintf(opts.Status, "monitor: serving %s (Redis %s%s)\n", url, redisDesc, authDesc)
	opts.Logger.Info("monitor serving",
		slog.String("url", url),
		slog.String("redis", redisDesc),
		slog.Bool("read_only", opts.ReadOnly),
		slog.Bool("auth", h.AuthEnabled()),
		slog.Int("users", len(opts.Auth.Users)),
		slog.Int("tokens", len(opts.Auth.Tokens)))
	if err := h.Ping(ctx); err != nil {
		fmt.Fprintf(opts.Status, "monitor: warning: Redis %s does not answer (%v); the UI shows errors until it does\n", redisDesc, err)
		opts.Logger.Warn("redis unreachable at start; serving anyway",
			slog.String("redis", redisDesc),
			slog.String("error", err.Error()))
		h.ready.Store(false)
	}
}
