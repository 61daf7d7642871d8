package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tuskq/tuskq/internal/spawn"
)

// Binaries the demo runs.
var binaries = []string{"worker", "monitor", "enqueue"}

// ErrNotReady is wrapped by the error returned when a process the demo
// started did not become ready.
var ErrNotReady = errors.New("process did not become ready")

// buildBinaries compiles the binaries into dir with the go command run in
// moduleDir.
func buildBinaries(ctx context.Context, moduleDir, dir string) error {
	if _, err := exec.LookPath("go"); err != nil {
		return errors.New("the go command is not on PATH: install Go 1.26 or later from https://go.dev/dl/, or pass --bin-dir with prebuilt worker, monitor and enqueue binaries")
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, b := range binaries {
		args = append(args, "./cmd/"+b)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// checkBinaries reports the first binary missing from dir.
func checkBinaries(dir string) error {
	for _, b := range binaries {
		p := filepath.Join(dir, b)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s not found: run 'make build' (it writes bin/%s) or drop --bin-dir to build into a temporary directory", p, b)
		}
	}
	return nil
}

// child is a process the demo started, in its own process group so that
// the terminal's Ctrl-C reaches only the demo, which then stops the
// children in order.
type child struct {
	*spawn.Proc

	stopOnce sync.Once
}

// startChild runs bin with args and env, its standard output and error
// written to logPath.
func startChild(name, bin string, args, env []string, logPath string) (*child, error) {
	p, err := spawn.Start(spawn.Options{
		Name: name, Path: bin, Args: args, Env: env, Log: logPath,
		Group: true, DieWithParent: true,
	})
	if err != nil {
		return nil, err
	}
	return &child{Proc: p}, nil
}

// stop sends SIGTERM to the child's process group, waits up to grace, then
// sends SIGKILL and waits for the exit. It returns an error when the child
// had to be killed or exited with a failure status. Only the first call
// does anything; later ones return nil.
func (c *child) stop(grace time.Duration) error {
	var err error
	c.stopOnce.Do(func() { err = c.terminate(grace) })
	return err
}

func (c *child) terminate(grace time.Duration) error {
	if c.Exited() {
		return c.exitError()
	}
	if c.Stop(grace) {
		return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed (log: %s)", c.Name(), grace, c.LogPath())
	}
	return c.exitError()
}

func (c *child) exitError() error {
	if err := c.Err(); err != nil {
		return fmt.Errorf("%s exited: %w (log: %s)", c.Name(), err, c.LogPath())
	}
	return nil
}

// diedError describes a child that exited while the demo needed it, with
// the end of its log.
func (c *child) diedError() error {
	if err := c.Err(); err != nil {
		return fmt.Errorf("%s exited unexpectedly (%w); last lines of %s:\n%s", c.Name(), err, c.LogPath(), c.Tail(5))
	}
	return fmt.Errorf("%s exited unexpectedly with status 0; last lines of %s:\n%s", c.Name(), c.LogPath(), c.Tail(5))
}

// waitReady polls url until it answers 200, the child exits, ctx ends or
// timeout passes.
func (c *child) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name(), err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if c.Exited() {
			return c.diedError()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w: %s did not answer 200 within %s (log: %s)", c.Name(), ErrNotReady, url, timeout, c.LogPath())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Done():
			return c.diedError()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	return addr, nil
}

// preferAddr returns want when it can be listened on now, else a free
// loopback port.
func preferAddr(want string) (string, error) {
	ln, err := net.Listen("tcp", want)
	if err != nil {
		return freeAddr()
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("check %s: %w", want, err)
	}
	return addr, nil
}

// mergeEnv returns base with the keys of set replaced or added.
func mergeEnv(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	return out
}
