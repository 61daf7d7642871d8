package enqueuecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/tasks"
)

// pendingPayloads returns the payloads of the pending tasks of queue,
// sorted.
func pendingPayloads(t *testing.T, insp *asynq.Inspector, queue string) []string {
	t.Helper()
	infos, err := insp.ListPendingTasks(queue, asynq.PageSize(10000))
	if err != nil {
		t.Fatalf("list pending tasks of %s: %v", queue, err)
	}
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = string(info.Payload)
	}
	sort.Strings(out)
	return out
}

// TestBatchBadLines feeds good lines and every kind of bad line: each bad
// line is reported by number with its reason, the good ones are enqueued
// and nothing else is, and the exit code is 2.
func TestBatchBadLines(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	input := strings.Join([]string{
		`{"type":"email:send","payload":{"to": "a@example.com"}}`,
		``,
		`{"type":"email:send","delay":"soon"}`,
		`not json`,
		`{"payload":{}}`,
		`{"type":"x:y","payload_base64":"AAEC"}`,
		`{"type":"x:y","qeue":"low"}`,
		`{"type":"x:y","max_retry":"3"}`,
		`{"type":"x:y","at":"2030-01-01T00:00:00Z","delay":"1m"}`,
		"  \t ",
		`{"type":"x:y","headers":{"traceparent":"x","a":1}}`,
		`{"type":"x:y"}{"type":"x:y"}`,
		`{"type":"x:y","type":"z:w"}`,
		`[1,2]`,
		`{"type":"x:y","timeout":"1.5s","unique":"0s","retention":"-1h","max_retry":-1}`,
		`{"type":"x:y","payload":1,"payload_base64":"AA=="}`,
		`{"type":"x:y","payload_base64":"!!"}`,
		`{"type":"x:y","deadline":"tomorrow","id":"","queue":"","traceparent":"00-1-2-3","bogus_field_name":true}`,
		`{"type":"x:y","headers":[]}`,
		`{"type":"", "payload": null}`,
		`{"type":"x:y","payload":"text\u00e9"}`,
		`{"type":"x:y","payload":`,
	}, "\n") + "\n"
	r := run(t, input, "--redis-addr", addr, "--batch")
	wantErr := `line 3: delay: "soon" is not a duration; use Go syntax such as 30s or 1h30m
line 4: invalid JSON at byte 2: invalid character 'o' in literal null (expecting 'u')
line 5: type: missing; every task needs a type such as "email:send"
line 7: qeue: unknown field (did you mean "queue"?)
line 8: max_retry: expected a whole number, got a string
line 9: at: delay and at cannot be used together; pick one
line 11: headers.traceparent: is set from the trace context; use the traceparent field instead of a header
line 11: headers.a: expected a string, got a number
line 12: invalid JSON at byte 15: invalid character '{' after top-level value
line 13: type: appears twice; give each field once
line 14: expected a JSON object such as {"type":"email:send","payload":{}}, got an array
line 15: max_retry: -1 is negative; expected a whole number from 0 to 2147483647
line 15: timeout: 1.5s is not a whole number of seconds (asynq stores seconds; 2s is); expected a whole number of seconds from 1s to 24h0m0s (24h)
line 15: unique: 0s is less than 1s; expected a whole number of seconds from 1s to 720h0m0s (30 days)
line 15: retention: -1h0m0s is negative; expected a whole number of seconds from 1s to 720h0m0s (30 days)
line 16: payload_base64: payload and payload_base64 cannot be used together; pick one
line 17: payload_base64: not standard base64 (illegal base64 data at input byte 0); encode the payload bytes with padding, alphabet A-Z a-z 0-9 + /
line 18: bogus_field_name: unknown field; the fields are type, payload, payload_base64, queue, delay, at, max_retry, timeout, deadline, unique, unique_key, id, retention, headers, traceparent
line 18: queue: the queue name is empty; name a queue such as default, or leave it out to use the route's
line 18: deadline: "tomorrow" is not an RFC 3339 time; use for example 2026-01-02T15:04:05Z or 2026-01-02T15:04:05+01:00
line 18: id: the task ID is empty; leave it out to get a generated one
line 18: traceparent: "00-1-2-3" is not a W3C traceparent; want 00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>
line 19: headers: expected an object of strings, got an array
line 20: type: the type is empty; use a name such as "email:send"
line 22: invalid JSON: the input ends before the JSON value is complete
enqueued 3 of 20 tasks; 17 not enqueued (bad input: lines 3-5, 7-9, 11-20, 22)
`
	if r.code != 2 || r.stderr != wantErr {
		t.Errorf("exit %d, want 2; stderr:\n%s\nwant:\n%s", r.code, r.stderr, wantErr)
	}
	tls := lines(t, r.stdout)
	var got []string
	for _, tl := range tls {
		got = append(got, fmt.Sprintf("%d %s %s %s", tl.Line, tl.Type, tl.Queue, tl.State))
		if info := taskInfo(t, insp, tl.Queue, tl.ID); tasks.TraceIDFromHeaders(info.Headers) != tl.TraceID {
			t.Errorf("line %d: printed trace ID %s, stored %v", tl.Line, tl.TraceID, info.Headers)
		}
	}
	if want := []string{"1 email:send default pending", "6 x:y default pending", "21 x:y default pending"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stdout lines %q, want %q", got, want)
	}
	// Exactly the good tasks are in Redis; a JSON payload is stored as its
	// compact encoding, a string payload as a JSON string.
	want := []string{"\x00\x01\x02", `"text\u00e9"`, `{"to":"a@example.com"}`}
	if got := pendingPayloads(t, insp, "default"); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("stored payloads %q, want %q", got, want)
	}
	if qs, err := insp.Queues(); err != nil || len(qs) != 1 {
		t.Errorf("queues %v (%v), want only default", qs, err)
	}
}

// TestBatchEnqueueFailures checks lines that are valid but cannot be
// stored: a task ID in use and a payload Redis refuses. The summary lists
// each kind by line and the exit code is 1, which wins over 2.
func TestBatchEnqueueFailures(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithArgs("--proto-max-bulk-len", "1mb"))
	addr := srv.Addr()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr})
	defer insp.Close()
	runOK(t, "", "--redis-addr", addr, "--id", "taken", "x:y", "first")

	big, _ := json.Marshal(strings.Repeat("x", 2<<20))
	input := `{"type":"x:y","payload":"a"}
{"type":"x:y","payload":"b","id":"taken"}
{"type":"x:y","payload":` + string(big) + `}
{"type":"x y"}
{"type":"x:y","payload":"c"}
`
	r := run(t, input, "--redis-addr", addr, "--batch")
	// Redis answers a too-long argument with a protocol error and closes
	// the connection, so the client sees either: line 3's message is
	// checked up to the error text.
	got := strings.SplitAfter(r.stderr, "\n")
	want := []string{
		"line 2: not enqueued: the task ID is already used by a task in that queue (tasks: enqueue \"x:y\": task ID conflicts with another task)\n",
		"line 3: not enqueued: Redis at " + addr + ": tasks: enqueue \"x:y\": ",
		"line 4: type: \"x y\" contains ' '; use letters, digits and punctuation other than '*'\n",
		"enqueued 2 of 5 tasks; 3 not enqueued (bad input: line 4; duplicate: line 2; failed: line 3)\n",
		"",
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = strings.HasPrefix(got[i], want[i]) && (i == 1 || got[i] == want[i])
	}
	if r.code != 1 || !ok {
		t.Errorf("exit %d, want 1; stderr:\n%s\nwant:\n%s", r.code, r.stderr, strings.Join(want, ""))
	}
	if got, want := pendingPayloads(t, insp, "default"), []string{`"a"`, `"c"`, "first"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored payloads %q, want %q", got, want)
	}
	if n := len(lines(t, r.stdout)); n != 2 {
		t.Errorf("%d stdout lines, want 2", n)
	}
}

// TestBatchDefaults checks that option flags are defaults for every line
// and that a line's own values win.
func TestBatchDefaults(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	const (
		flagTrace = "00-11111111111111111111111111111111-2222222222222222-01"
		lineTrace = "00-33333333333333333333333333333333-4444444444444444-01"
	)
	at := time.Now().Add(2 * time.Hour).Truncate(time.Second).UTC()
	input := `{"type":"x:y","payload":1}
{"type":"x:y","payload":2,"queue":"critical","max_retry":5,"headers":{"a":"2","b":"3"},"traceparent":"` + lineTrace + `","at":"` + at.Format(time.RFC3339) + `","timeout":"7s","retention":"1h","unique":"1m"}
{"type":"x:y","payload":3,"id":"three"}
`
	r := runOK(t, input, "--redis-addr", addr, "--batch", "--queue", "low", "--max-retry", "1",
		"--header", "a=1", "--traceparent", flagTrace, "--delay", "1h", "--parallelism", "2")
	if r.stderr != "enqueued 3 of 3 tasks\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	tls := lines(t, r.stdout)
	if len(tls) != 3 {
		t.Fatalf("%d lines, want 3", len(tls))
	}
	type stored struct {
		line                  int
		queue, trace, headers string
		maxRetry              int
		timeout, retention    time.Duration
		state                 asynq.TaskState
	}
	var got []stored
	for _, tl := range tls {
		info := taskInfo(t, insp, tl.Queue, tl.ID)
		if tl.TraceID != tasks.TraceIDFromHeaders(info.Headers) {
			t.Errorf("line %d: printed trace %s, stored %v", tl.Line, tl.TraceID, info.Headers)
		}
		got = append(got, stored{tl.Line, info.Queue, tasks.TraceIDFromHeaders(info.Headers),
			info.Headers["a"] + "," + info.Headers["b"], info.MaxRetry, info.Timeout, info.Retention, info.State})
	}
	want := []stored{
		{1, "low", "11111111111111111111111111111111", "1,", 1, 30 * time.Minute, 0, asynq.TaskStateScheduled},
		{2, "critical", "33333333333333333333333333333333", "2,3", 5, 7 * time.Second, time.Hour, asynq.TaskStateScheduled},
		{3, "low", "11111111111111111111111111111111", "1,", 1, 30 * time.Minute, 0, asynq.TaskStateScheduled},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored\n%v\nwant\n%v", got, want)
	}
	if tls[1].ProcessAt != at.Format(time.RFC3339) || tls[2].ID != "three" {
		t.Errorf("line 2 process_at %s (want %s), line 3 id %s", tls[1].ProcessAt, at.Format(time.RFC3339), tls[2].ID)
	}
	// "unique" reached the task: the same line again is a duplicate.
	r = run(t, `{"type":"x:y","payload":2,"queue":"critical","unique":"1m"}`, "--redis-addr", addr, "--batch")
	if r.code != 1 || !strings.HasSuffix(r.stderr, "enqueued 0 of 1 tasks; 1 not enqueued (duplicate: line 1)\n") {
		t.Errorf("duplicate: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBatchChunks streams more lines than one chunk, with per-line traces
// mixed in, and checks that every good line is enqueued once, in order.
func TestBatchChunks(t *testing.T) {
	t.Parallel()
	addr, insp := newRedis(t)
	const n = 2*enqueuecli.ChunkSize + 345
	var in strings.Builder
	for i := 1; i <= n; i++ {
		switch {
		case i == 1500:
			in.WriteString("{\"type\":\"bad type\"}\n")
		case i%3 == 0:
			fmt.Fprintf(&in, "{\"type\":\"n:%d\",\"payload\":%d,\"traceparent\":\"00-%032x-%016x-01\"}\n", i%7, i, i, i)
		default:
			fmt.Fprintf(&in, "{\"type\":\"n:%d\",\"payload\":%d}\n", i%7, i)
		}
	}
	r := run(t, in.String(), "--redis-addr", addr, "--batch")
	wantErr := "line 1500: type: \"bad type\" contains ' '; use letters, digits and punctuation other than '*'\n" +
		fmt.Sprintf("enqueued %d of %d tasks; 1 not enqueued (bad input: line 1500)\n", n-1, n)
	if r.code != 2 || r.stderr != wantErr {
		t.Fatalf("exit %d, stderr %q; want 2, %q", r.code, r.stderr, wantErr)
	}
	tls := lines(t, r.stdout)
	if len(tls) != n-1 {
		t.Fatalf("%d stdout lines, want %d", len(tls), n-1)
	}
	want := 1
	for _, tl := range tls {
		if want == 1500 {
			want++
		}
		if tl.Line != want || tl.Type != fmt.Sprintf("n:%d", want%7) {
			t.Fatalf("stdout line for input line %d is %+v", want, tl)
		}
		if want%3 == 0 && tl.TraceID != fmt.Sprintf("%032x", want) {
			t.Fatalf("line %d: trace %s, want the line's traceparent", want, tl.TraceID)
		}
		want++
	}
	info, err := insp.GetQueueInfo("default")
	if err != nil || info.Size != n-1 {
		t.Fatalf("queue size %v (%v), want %d", info, err, n-1)
	}
}

func TestBatchEmptyAndLongLines(t *testing.T) {
	t.Parallel()
	addr, _ := newRedis(t)
	r := run(t, "", "--redis-addr", addr, "--batch")
	if r.code != 0 || r.stderr != "enqueued 0 of 0 tasks\n" || r.stdout != "" {
		t.Errorf("empty input: exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
	long := `{"type":"x:y","payload":"` + strings.Repeat("x", enqueuecli.MaxLineBytes) + `"}`
	r = run(t, "\n"+long+"\r\n"+`{"type":"x:y"}`, "--redis-addr", addr, "--batch")
	wantErr := "line 2: the line is longer than 16777216 bytes; store large payloads elsewhere and enqueue a reference\n" +
		"enqueued 1 of 2 tasks; 1 not enqueued (bad input: line 2)\n"
	if r.code != 2 || r.stderr != wantErr {
		t.Errorf("long line: exit %d, stderr %q; want 2, %q", r.code, r.stderr, wantErr)
	}
	if tls := lines(t, r.stdout); len(tls) != 1 || tls[0].Line != 3 {
		t.Errorf("stdout %q, want line 3 only", r.stdout)
	}
}

// TestBatchRedisGone kills Redis after the first chunk: the batch stops
// with one line naming the address and a summary of what was stored.
func TestBatchRedisGone(t *testing.T) {
	t.Parallel()
	srv := redistest.NewGate(t, redistest.Start(t).Addr())
	addr := srv.Addr()
	var first, rest bytes.Buffer
	for i := 1; i <= 3*enqueuecli.ChunkSize; i++ {
		w := &rest
		if i <= enqueuecli.ChunkSize {
			w = &first
		}
		fmt.Fprintf(w, "{\"type\":\"x:y\",\"payload\":%d}\n", i)
	}
	out := &watchWriter{want: []byte(fmt.Sprintf(`"line":%d,`, enqueuecli.ChunkSize)), seen: make(chan struct{})}
	stdin := io.MultiReader(&first, &gateReader{gate: out.seen, before: func() {
		if err := srv.Down(); err != nil {
			t.Errorf("take redis away: %v", err)
		}
	}, r: &rest})
	var stderr bytes.Buffer
	code := enqueuecli.Run(t.Context(), []string{"--redis-addr", addr, "--batch"}, enqueuecli.Env{
		Stdin: stdin, Stdout: out, Stderr: &stderr, Environ: []string{},
	})
	wantErr := "enqueue: cannot reach Redis at " + addr + ": dial tcp " + addr + ": connect: connection refused\n" +
		"enqueued 1000 of 2000 tasks; 1000 not enqueued (failed: lines 1001-2000)\n" +
		"stopped: input after line 2000 was not read\n"
	if code != 1 || stderr.String() != wantErr {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, stderr.String(), wantErr)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if n := len(lines(t, out.buf.String())); n != enqueuecli.ChunkSize {
		t.Errorf("%d stdout lines, want %d", n, enqueuecli.ChunkSize)
	}
}

// watchWriter collects output and closes seen once want was written.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want []byte
	seen chan struct{}
	done bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && w.want != nil && bytes.Contains(w.buf.Bytes(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

// waitFor polls until s was written, failing the test after 20s.
func (w *watchWriter) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.mu.Lock()
		ok := bytes.Contains(w.buf.Bytes(), []byte(s))
		w.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q was not written within 20s", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gateReader blocks its first read until gate is closed, then calls before
// and reads from r.
type gateReader struct {
	gate   <-chan struct{}
	before func()
	once   sync.Once
	r      io.Reader
}

func (g *gateReader) Read(p []byte) (int, error) {
	g.once.Do(func() {
		select {
		case <-g.gate:
			g.before()
		case <-time.After(time.Minute): // the test failed; do not hang
		}
	})
	return g.r.Read(p)
}

// TestBatchProgress checks that progress is drawn on a terminal, and
// erased before the summary.
func TestBatchProgress(t *testing.T) {
	t.Parallel()
	addr, _ := newRedis(t)
	in := strings.Repeat("{\"type\":\"x:y\"}\n", enqueuecli.ChunkSize+500)
	var stdout, stderr bytes.Buffer
	code := enqueuecli.Run(t.Context(), []string{"--redis-addr", addr, "--batch"}, enqueuecli.Env{
		Stdin: strings.NewReader(in), Stdout: &stdout, Stderr: &stderr, Environ: []string{}, IsTerminal: true,
	})
	const clearLine = "\r\x1b[K"
	got := stderr.String()
	if code != 0 || !strings.HasPrefix(got, clearLine+clearLine+"1000 enqueued, 0 not enqueued, 1000 lines read"+clearLine) ||
		!strings.HasSuffix(got, clearLine+"enqueued 1500 of 1500 tasks\n") {
		t.Errorf("exit %d, stderr %q", code, got)
	}
}

// TestBatchSlowInputAndInterrupt feeds lines one at a time through a pipe:
// each is enqueued before the next arrives (nothing waits for a full
// chunk), and cancelling the context stops the batch with exit 1 and a
// summary.
func TestBatchSlowInputAndInterrupt(t *testing.T) {
	t.Parallel()
	addr, _ := newRedis(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &watchWriter{seen: make(chan struct{})}
	var stderr bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- enqueuecli.Run(ctx, []string{"--redis-addr", addr, "--batch"}, enqueuecli.Env{
			Stdin: pr, Stdout: out, Stderr: &stderr, Environ: []string{},
		})
	}()
	for i := 1; i <= 2; i++ {
		if _, err := fmt.Fprintf(pw, "{\"type\":\"x:y\",\"payload\":%d}\n", i); err != nil {
			t.Fatal(err)
		}
		out.waitFor(t, fmt.Sprintf(`"line":%d,`, i))
	}
	cancel()
	select {
	case code := <-done:
		want := "enqueued 2 of 2 tasks\ninterrupted: input after line 2 was not read\n"
		if code != 1 || stderr.String() != want {
			t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr.String(), want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the context was cancelled")
	}
}
