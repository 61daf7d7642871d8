package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts are the limits of an http.Server.
type Timeouts struct {
	// ReadHeader bounds the reading of a request's headers.
	ReadHeader time.Duration
	// Read bounds the reading of a whole request, body included.
	Read time.Duration
	// Write bounds the writing of the answer, from the end of the headers
	// read.
	Write time.Duration
	// Idle bounds how long a kept-alive connection waits for its next
	// request.
	Idle time.Duration
	// MaxHeaderBytes bounds the size of a request's headers.
	MaxHeaderBytes int
}

// DefaultTimeouts are the limits of the API and of the worker's endpoints;
// the monitor raises Write for asynqmon's heaviest calls.
var DefaultTimeouts = Timeouts{
	ReadHeader:     10 * time.Second,
	Read:           time.Minute,
	Write:          time.Minute,
	Idle:           2 * time.Minute,
	MaxHeaderBytes: 64 << 10,
}

// NewServer returns an http.Server serving h within the limits of t.
func NewServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    t.MaxHeaderBytes,
	}
}

// Options configures Run.
type Options struct {
	// Name starts error texts ("monitor: cannot listen on …") and log
	// messages ("monitor shutting down") with LogName.
	Name string
	// LogName names the server in its log messages.
	LogName string
	// Logger receives the server's error log (at warn) and the shutdown
	// lines.
	Logger *slog.Logger
	// ShutdownTimeout is how long requests in flight may run after ctx
	// ends before they are cut off.
	ShutdownTimeout time.Duration
	// OnListen, when set, is called once the server accepts connections,
	// with the address it is bound to.
	OnListen func(net.Addr)
}

// Run listens on addr and serves srv until ctx ends, then shuts down
// gracefully and returns nil. Requests run with a context that keeps
// ctx's values but not its cancellation, so a shutdown lets them finish.
// It sets srv's ErrorLog and BaseContext.
func Run(ctx context.Context, addr string, srv *http.Server, opts Options) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: cannot listen on %s: %w", opts.Name, addr, err)
	}
	srv.ErrorLog = slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("%s: serve on %s: %w", opts.Name, ln.Addr(), err)
	case <-ctx.Done():
	}
	opts.Logger.InfoContext(ctx, opts.LogName+" shutting down",
		"reason", context.Cause(ctx).Error(),
		"timeout", opts.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		opts.Logger.WarnContext(ctx, "requests still running at the shutdown timeout were cut off",
			"error", err)
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: serve on %s: %w", opts.Name, ln.Addr(), err)
	}
	opts.Logger.InfoContext(ctx, opts.LogName+" stopped")
	return nil
}
