package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/tasks"
)

// redisAt is the default Redis configuration pointed at addr.
func redisAt(addr string) config.RedisConfig {
	c := config.Default().Redis
	c.Addr = addr
	return c
}

// enqueue puts n tasks of type "email:send" into queue through the tasks
// client, as a producer would.
func enqueue(t *testing.T, addr, queue string, n int) {
	t.Helper()
	opt, err := redisconn.ConnOpt(redisAt(addr))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tasks.NewClient(opt, tasks.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		payload := fmt.Appendf(nil, `{"n":%d}`, i)
		if _, err := c.Enqueue(t.Context(), "email:send", payload, &tasks.EnqueueOptions{Queue: queue}); err != nil {
			t.Fatal(err)
		}
	}
}

// do sends a request and returns the status and body.
func do(t *testing.T, c *http.Client, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// noRedirect is an HTTP client that returns redirects instead of
// following them.
func noRedirect() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// logRecords decodes the JSON log lines of s, skipping lines that are not
// JSON (the status lines share stderr with the log).
func logRecords(t *testing.T, s string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(s) {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// findRecord returns the first record with the message msg, or nil.
func findRecord(recs []map[string]any, msg string) map[string]any {
	for _, r := range recs {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Poll(t, 10*time.Second, what, cond)
}
