package httpserve

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRunDrainsInFlightRequests: cancelling ctx lets a request in flight
// finish, then Run returns nil; a taken address is an error naming it.
func TestRunDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	}), ReadHeaderTimeout: time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	addrCh := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, "127.0.0.1:0", srv, Options{
			Name: "test", LogName: "test", Logger: slog.New(slog.DiscardHandler),
			ShutdownTimeout: 10 * time.Second, OnListen: func(a net.Addr) { addrCh <- a },
		})
	}()
	addr := <-addrCh

	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String() + "/")
		if err != nil {
			body <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-started
	cancel()
	close(release)
	if got := <-body; got != "done" {
		t.Fatalf("request in flight during shutdown got %q; want done", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v; want nil after a shutdown", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Run(t.Context(), ln.Addr().String(), &http.Server{ReadHeaderTimeout: time.Second}, Options{Name: "test", Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.HasPrefix(err.Error(), "test: cannot listen on "+ln.Addr().String()+": ") {
		t.Fatalf("taken address: %v", err)
	}
}
