package jsonscan

import (
	"strings"
	"testing"
)

// benchLine is a typical task object of a batch line or request body.
var benchLine = []byte(`{"type":"email:send","payload":{"to":"user42@example.com","n":42,"tags":["a","b"]},"queue":"low","max_retry":3,"headers":{"tenant":"acme"}}`)

// benchBatch is a batch body of 1000 such objects.
var benchBatch = []byte(`{"tasks":[` + strings.TrimSuffix(strings.Repeat(string(benchLine)+",", 1000), ",") + `]}`)

// BenchmarkMembers measures splitting one task object and unquoting its
// string fields, as the decoders do per task.
func BenchmarkMembers(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		ms := members(b, benchLine)
		for _, m := range ms {
			if m.Value[0] == '"' {
				unquote(b, m.Value)
			}
		}
	}
}

// BenchmarkElements measures splitting a batch of 1000 task objects.
func BenchmarkElements(b *testing.B) {
	ms := members(b, benchBatch)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBatch)))
	for b.Loop() {
		if n := elements(b, ms[0].Value); n != 1000 {
			b.Fatalf("%d elements", n)
		}
	}
}
