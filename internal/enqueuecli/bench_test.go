package enqueuecli_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/internal/enqueuecli"
	"github.com/tuskq/tuskq/internal/redistest"
)

func BenchmarkDecodeLine(b *testing.B) {
	line := []byte(`{"type":"email:send","payload":{"to":"user42@example.com","n":42},"queue":"low","max_retry":3}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enqueuecli.DecodeLine(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatch enqueues 10,000 JSON lines per iteration through Run, on
// a local redis-server.
func BenchmarkBatch(b *testing.B) {
	srv := redistest.Start(b)
	var in strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&in, "{\"type\":\"email:send\",\"payload\":{\"to\":\"user%d@example.com\"}}\n", i)
	}
	for b.Loop() {
		code := enqueuecli.Run(b.Context(), []string{"--redis-addr", srv.Addr(), "--batch"}, enqueuecli.Env{
			Stdin: strings.NewReader(in.String()), Stdout: io.Discard, Stderr: io.Discard, Environ: []string{},
		})
		if code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "tasks/s")
}
