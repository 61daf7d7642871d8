package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/internal/redisconn"
	"github.com/tuskq/tuskq/logging"
	"github.com/tuskq/tuskq/tasks"
)

// Enqueue throughput of the HTTP API against the Go client, on one Redis,
// in the same run. Each benchmark reports tasks/s; compare
// HTTPSingle/GoClient (one task per call, benchParallel callers) and
// HTTPBatch/GoClientMany (benchBatch tasks per call, one caller).
//
//	go test -run XXX -bench Enqueue -benchtime 3s ./internal/httpapi

const (
	// benchParallel is the number of concurrent callers of the single
	// enqueue benchmarks.
	benchParallel = 32
	// benchBatch is the number of tasks per batch call.
	benchBatch = 1000
	// benchPayload is a typical small JSON payload.
	benchPayload = `{"to":"ada@example.com","template":"welcome","locale":"en"}`
)

// benchEnv starts Redis and the API, logging JSON to io.Discard as a real
// server logs to stderr.
func benchEnv(b *testing.B) *apiEnv {
	b.Helper()
	logger, err := logging.New(io.Discard, logging.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, envOptions{options: func(o *httpapi.Options) { o.Logger = logger }})
	e.http = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchParallel}}
	return e
}

// goClient is a tasks.Client on e's Redis.
func goClient(b *testing.B, e *apiEnv) *tasks.Client {
	b.Helper()
	opt, err := redisconn.ConnOpt(e.cfg.Redis)
	if err != nil {
		b.Fatal(err)
	}
	c, err := tasks.NewClient(opt, tasks.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// reportTasks reports the throughput of n tasks enqueued since start.
func reportTasks(b *testing.B, n int, start time.Time) {
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "tasks/s")
}

// post sends a body and checks the status; the connection is kept alive.
func post(b *testing.B, c *http.Client, url string, body []byte, want int) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Errorf("status %d, want %d", resp.StatusCode, want)
	}
}

func BenchmarkEnqueueGoClient(b *testing.B) {
	e := benchEnv(b)
	c := goClient(b, e)
	b.SetParallelism(benchParallel)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Enqueue(b.Context(), "email:send", []byte(benchPayload), nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportTasks(b, b.N, start)
}

func BenchmarkEnqueueHTTPSingle(b *testing.B) {
	e := benchEnv(b)
	body := []byte(`{"type":"email:send","payload":` + benchPayload + `}`)
	b.SetParallelism(benchParallel)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			post(b, e.http, e.url+httpapi.PathTasks, body, http.StatusCreated)
		}
	})
	reportTasks(b, b.N, start)
}

func BenchmarkEnqueueGoClientMany(b *testing.B) {
	e := benchEnv(b)
	c := goClient(b, e)
	reqs := make([]tasks.Request, benchBatch)
	for i := range reqs {
		reqs[i] = tasks.Request{Type: "email:send", Payload: []byte(benchPayload)}
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for _, r := range c.EnqueueMany(b.Context(), reqs, 0) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	reportTasks(b, b.N*benchBatch, start)
}

func BenchmarkEnqueueHTTPBatch(b *testing.B) {
	e := benchEnv(b)
	var sb strings.Builder
	sb.WriteString(`{"tasks":[`)
	for i := range benchBatch {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"type":"email:send","payload":%s}`, benchPayload)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		post(b, e.http, e.url+httpapi.PathBatch, body, http.StatusOK)
	}
	reportTasks(b, b.N*benchBatch, start)
}
