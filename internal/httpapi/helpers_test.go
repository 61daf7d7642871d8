package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	redislog "github.com/redis/go-redis/v9/logging"

	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/internal/testutil"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
	"github.com/tuskq/tuskq/worker"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial through a global logger; the tests
	// that stop Redis would flood the output.
	redislog.Disable()
	// No goroutine may outlive the tests (a server, limiter or idempotency
	// sweeper that Run leaves behind).
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}

// waitLimit bounds every poll of the tests.
const waitLimit = 20 * time.Second

// Tokens used by the tests.
const (
	tokenAll     = "all-0123456789abcdef"
	tokenLimited = "lim-0123456789abcdef"
)

// seen is what the test processors saw of one task.
type seen struct {
	typ, payload, traceID string
	headers               map[string]string
}

// apiEnv is one test's Redis, API server and (optionally) worker.
type apiEnv struct {
	redis   *redistest.Server
	cfg     config.Config
	url     string
	http    *http.Client
	insp    *asynq.Inspector
	logs    *testutil.LogBuffer
	status  *testutil.LogBuffer
	tasks   chan seen     // tasks processed by the worker
	started chan string   // IDs of slow:task and stubborn:task attempts that started
	release chan struct{} // closing it ends stubborn:task
	stop    func() error  // stops the API server
	worker  *worker.Worker
}

// envOptions changes a test environment.
type envOptions struct {
	worker bool
	// workerQueues, when set, are the worker's queues instead of the
	// configuration's (which the API keeps).
	workerQueues map[string]int
	configure    func(*config.Config)
	options      func(*httpapi.Options)
	// redis, when set, is used instead of a Redis of the test's own.
	redis *redistest.Server
}

// newEnv starts Redis and the API (and a worker when asked) for a test.
func newEnv(t testing.TB, eo envOptions) *apiEnv {
	t.Helper()
	srv := eo.redis
	if srv == nil {
		srv = redistest.Start(t)
	}
	cfg := config.Default()
	cfg.Redis.Addr = srv.Addr()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Worker.Listen = ""
	cfg.Worker.Concurrency = 4
	cfg.Worker.TaskCheckInterval = 10 * time.Millisecond
	cfg.Worker.DelayedTaskCheckInterval = 20 * time.Millisecond
	cfg.Worker.ShutdownTimeout = 2 * time.Second
	if eo.configure != nil {
		eo.configure(&cfg)
	}
	e := &apiEnv{
		redis:   srv,
		cfg:     cfg,
		http:    &http.Client{Timeout: 30 * time.Second},
		insp:    asynq.NewInspector(asynq.RedisClientOpt{Addr: srv.Addr()}),
		logs:    &testutil.LogBuffer{},
		status:  &testutil.LogBuffer{},
		tasks:   make(chan seen, 1000),
		started: make(chan string, 100),
		release: make(chan struct{}),
	}
	t.Cleanup(func() { e.insp.Close() })
	if eo.worker {
		e.startWorker(t, eo.workerQueues)
	}
	logger, err := logging.New(e.logs, logging.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := httpapi.Options{Config: cfg, Logger: logger, Status: e.status, CancelWait: 5 * time.Second}
	if eo.options != nil {
		eo.options(&opts)
	}
	listening := make(chan net.Addr, 1)
	opts.OnListen = func(a net.Addr) { listening <- a }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- httpapi.Run(ctx, opts) }()
	var stopped bool
	var runErr error
	e.stop = func() error {
		cancel()
		if !stopped {
			runErr, stopped = <-done, true
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case a := <-listening:
		e.url = "http://" + a.String()
	case err := <-done:
		stopped, runErr = true, err
		t.Fatalf("Run returned before serving: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("the API did not serve in time")
	}
	return e
}

// startWorker runs a tuskq worker on the test's Redis with the test
// processors: email:send and demo:echo record what they see; result:json
// writes a result; slow:task runs until cancelled; stubborn:task runs
// until e.release is closed, whatever its context says; fail:always fails.
func (e *apiEnv) startWorker(t testing.TB, queues map[string]int) {
	t.Helper()
	reg := tasks.NewRegistry()
	record := tasks.ProcessorFunc(func(ctx context.Context, task *asynq.Task) error {
		e.tasks <- seen{typ: task.Type(), payload: string(task.Payload()), traceID: tasks.TraceIDFromHeaders(task.Headers()), headers: task.Headers()}
		return nil
	})
	reg.MustRegister("email:send", record)
	reg.MustRegister("demo:echo", record)
	reg.MustRegister("result:json", tasks.ProcessorFunc(func(ctx context.Context, task *asynq.Task) error {
		_, err := task.ResultWriter().Write([]byte(`{"sent":true}`))
		return err
	}))
	reg.MustRegister("slow:task", tasks.ProcessorFunc(func(ctx context.Context, task *asynq.Task) error {
		e.started <- task.ResultWriter().TaskID()
		<-ctx.Done()
		return ctx.Err()
	}))
	reg.MustRegister("stubborn:task", tasks.ProcessorFunc(func(ctx context.Context, task *asynq.Task) error {
		e.started <- task.ResultWriter().TaskID()
		<-e.release // ignores cancellation
		return nil
	}))
	reg.MustRegister("fail:always", tasks.ProcessorFunc(func(ctx context.Context, task *asynq.Task) error {
		return errors.New("smtp: 550 mailbox unavailable")
	}))
	cfg := e.cfg
	if queues != nil {
		cfg.Worker.Queues = queues
	}
	w, err := worker.New(worker.Options{Config: cfg, Registry: reg, RetryDelay: func(int, error, *asynq.Task) time.Duration { return time.Hour }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	select {
	case <-w.Ready():
	case err := <-done:
		t.Fatalf("worker stopped: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("worker not ready in time")
	}
	e.worker = w
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request. body "" sends none; a non-empty body is sent as
// application/json unless hdr sets Content-Type.
func (e *apiEnv) do(t testing.TB, method, path, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// created decodes a 201 answer.
func created(t *testing.T, r response) httpapi.TaskCreated {
	t.Helper()
	if r.status != http.StatusCreated {
		t.Fatalf("status %d, want 201: %s", r.status, r.body)
	}
	var tc httpapi.TaskCreated
	decodeStrict(t, r.body, &tc)
	return tc
}

// decodeStrict decodes JSON, refusing unknown fields.
func decodeStrict(t *testing.T, body string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
}

// nextTask waits for the worker to process a task.
func (e *apiEnv) nextTask(t *testing.T) seen {
	t.Helper()
	select {
	case s := <-e.tasks:
		return s
	case <-time.After(waitLimit):
		t.Fatal("no task was processed in time")
	}
	return seen{}
}

// waitState polls a task until it is in state.
func (e *apiEnv) waitState(t *testing.T, queue, id string, state asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		info, err := e.insp.GetTaskInfo(queue, id)
		if err == nil && info.State == state {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s/%s not %s in time (info %+v, err %v)", queue, id, state, info, err)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// pending counts the tasks of a queue waiting for a worker.
func (e *apiEnv) pending(t testing.TB, queue string) int {
	t.Helper()
	queues, err := e.insp.Queues()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(queues, queue) {
		return 0
	}
	qi, err := e.insp.GetQueueInfo(queue)
	if err != nil {
		t.Fatal(err)
	}
	return qi.Pending + qi.Scheduled
}

// problemJSON is the exact body of a problem answer.
func problemJSON(kind, title string, status int, detail string, errs ...httpapi.FieldError) string {
	p := httpapi.Problem{Type: httpapi.ProblemTypeBase + kind, Title: title, Status: status, Detail: detail, Errors: errs}
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

// fe is a FieldError.
func fe(field, detail string) httpapi.FieldError {
	return httpapi.FieldError{Field: field, Detail: detail}
}
