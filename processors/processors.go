package processors

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"

	"github.com/tuskq/tuskq/tasks"
)

// Task types of the built-in processors.
const (
	TypeSleep       = "demo:sleep"
	TypeEcho        = "demo:echo"
	TypeFail        = "demo:fail"
	TypeHTTPRequest = "http:request"
)

var (
	// ErrBadPayload is wrapped by every error about a payload that cannot be
	// decoded or is invalid. Such errors also wrap asynq.SkipRetry: bad input
	// is archived at once, never retried.
	ErrBadPayload = errors.New("bad payload")
	// ErrHostNotAllowed is wrapped by the error of an http:request task whose
	// URL, redirect target or resolved address is not allowed by
	// worker.http_allow_hosts. Such errors also wrap asynq.SkipRetry.
	ErrHostNotAllowed = errors.New("host not allowed")
	// ErrPlannedFailure is wrapped by the errors demo:fail returns on purpose.
	ErrPlannedFailure = errors.New("planned failure")
)

// Options configures the built-in processors.
type Options struct {
	// HTTPAllowHosts lists the hosts http:request may call, as in the
	// worker.http_allow_hosts config key: "api.example.com" allows any port
	// of that host, "api.example.com:8443" or "[::1]:9000" only that port.
	// Empty (the default) refuses every request.
	HTTPAllowHosts []string
	// HTTPClient sends the requests of http:request. Nil uses a client with
	// dial and TLS handshake timeouts of 10s, no proxy, and a dial-time guard
	// against link-local, multicast and unspecified addresses (see the
	// package documentation). A client given here is used as is, except that
	// its redirects are checked against HTTPAllowHosts too.
	HTTPClient *http.Client
	// Logger receives debug lines about finished requests and sleeps; use a
	// logger built by the logging package so they carry the task's trace and
	// task fields. Nil discards them. Payloads are never logged.
	Logger *slog.Logger
	// Version goes into the User-Agent header of http:request as
	// "tuskq/<Version>". Empty uses the tuskq module version recorded in the
	// binary's build information, or "dev" when there is none.
	Version string
	// TracerProvider, when set, makes each http:request call a CLIENT span
	// (OpenTelemetry's HTTP conventions, url.full without its query), a
	// child of the attempt's span, and sends that span's context as the
	// traceparent header. Nil makes no span; the task's traceparent is
	// then sent unchanged.
	TracerProvider trace.TracerProvider
}

// RegisterBuiltins registers demo:sleep, demo:echo, demo:fail and
// http:request with reg. It fails when an HTTPAllowHosts entry is malformed
// (the error names the entry and its index) or when one of the types is
// already registered.
func RegisterBuiltins(reg *tasks.Registry, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hp, err := newHTTPProcessor(opts, logger)
	if err != nil {
		return err
	}
	procs := []struct {
		typ  string
		proc tasks.Processor
	}{
		{TypeSleep, &sleepProcessor{logger: logger}},
		{TypeEcho, tasks.ProcessorFunc(processEcho)},
		{TypeFail, tasks.ProcessorFunc(processFail)},
		{TypeHTTPRequest, hp},
	}
	for _, p := range procs {
		if err := reg.Register(p.typ, p.proc); err != nil {
			return fmt.Errorf("processors: %w", err)
		}
	}
	return nil
}

// taggedError is an error whose text is exactly msg and which wraps errs,
// so errors.Is finds tuskq's sentinels (and asynq.SkipRetry) while the
// message stays free of their texts.
type taggedError struct {
	msg  string
	errs []error
}

func (e *taggedError) Error() string   { return e.msg }
func (e *taggedError) Unwrap() []error { return e.errs }

// tagged returns an error with text msg wrapping errs.
func tagged(msg string, errs ...error) error {
	return &taggedError{msg: msg, errs: errs}
}

// permanent returns an error with text msg wrapping sentinel and
// asynq.SkipRetry: the task is archived without retry.
func permanent(sentinel error, msg string) error {
	return tagged(msg, sentinel, asynq.SkipRetry)
}

// badPayload returns the error of an invalid payload of a taskType task.
func badPayload(taskType, format string, args ...any) error {
	return permanent(ErrBadPayload, taskType+": bad payload: "+fmt.Sprintf(format, args...))
}

// modulePath is the tuskq module, looked up in the build information for
// the default User-Agent version.
const modulePath = "github.com/tuskq/tuskq"

// buildVersion returns the tuskq module version of the running binary, or
// "dev" for a development build.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := info.Main.Version
	if info.Main.Path != modulePath {
		v = ""
		for _, d := range info.Deps {
			if d.Path == modulePath {
				v = d.Version
			}
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
}
