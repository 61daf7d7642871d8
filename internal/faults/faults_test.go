package faults_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/faults"
	"github.com/tuskq/tuskq/internal/redistest"
)

func TestPayload(t *testing.T) {
	// The documented contract: 20 to 50 ms, a fixed function of seq (so
	// runs compare), and spread over that whole range.
	lo, hi := 1000, -1
	for seq := int64(1); seq <= 200; seq++ {
		p := faults.NewPayload(seq)
		if p.Seq != seq || p.SleepMS < 20 || p.SleepMS > 50 || p != faults.NewPayload(seq) {
			t.Fatalf("NewPayload(%d) = %+v; want seq %d, 20 to 50 ms, the same every call", seq, p, seq)
		}
		lo, hi = min(lo, p.SleepMS), max(hi, p.SleepMS)
	}
	if lo != 20 || hi != 50 {
		t.Errorf("NewPayload sleeps %d to %d ms over seq 1..200; want the whole 20 to 50", lo, hi)
	}
	p := faults.NewPayload(42)
	// The wire format the fault worker binary decodes.
	if got, want := string(p.Encode()), `{"seq":42,"ms":`+strconv.Itoa(p.SleepMS)+`}`; got != want {
		t.Errorf("Encode = %s; want %s", got, want)
	}
	got, err := faults.DecodePayload(p.Encode())
	if err != nil || got != p {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, p)
	}
	for _, bad := range []string{`{`, `{"seq":0,"ms":5}`, `{"seq":3,"ms":-1}`} {
		if _, err := faults.DecodePayload([]byte(bad)); !errors.Is(err, faults.ErrBadPayload) {
			t.Errorf("DecodePayload(%s): %v; want ErrBadPayload", bad, err)
		}
	}
	_, err = faults.DecodePayload([]byte(`{"seq":0,"ms":5}`))
	if want := "faults: bad payload: seq 0, ms 5"; err == nil || err.Error() != want {
		t.Errorf("error %q; want %q", err, want)
	}
}

func TestLedger(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	l := faults.NewLedger(rdb)
	ctx := t.Context()
	t0 := time.UnixMicro(1_700_000_000_000_000)
	steps := []func() error{
		func() error { return l.Start(ctx, 1, 0, "w0") },
		func() error { return l.Done(ctx, 1, t0) },
		func() error { return l.Start(ctx, 2, 0, "w0") }, // interrupted
		func() error { return l.Start(ctx, 2, 3, "w1") },
		func() error { return l.Start(ctx, 2, 1, "w2") }, // a lower retry count keeps the highest
		func() error { return l.Done(ctx, 2, t0.Add(time.Second)) },
		func() error { return l.Done(ctx, 2, t0.Add(2*time.Second)) },
		func() error { return l.Ready(ctx, "w0") },
		func() error { return l.Ready(ctx, "w0") },
		func() error { return l.Ready(ctx, "w1") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	s, err := l.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eq := func(name string, got, want map[int64]int) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s = %v; want %v", name, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v; want %v", name, got, want)
			}
		}
	}
	eq("Runs", s.Runs, map[int64]int{1: 1, 2: 3})
	eq("Done", s.Done, map[int64]int{1: 1, 2: 2})
	eq("Retried", s.Retried, map[int64]int{1: 0, 2: 3})
	if s.Owner[1] != "w0" || s.Owner[2] != "w2" || len(s.Owner) != 2 {
		t.Errorf("Owner = %v", s.Owner)
	}
	if !s.FirstDone[2].Equal(t0.Add(time.Second)) || !s.LastDone[2].Equal(t0.Add(2*time.Second)) || !s.FirstDone[1].Equal(t0) {
		t.Errorf("FirstDone = %v, LastDone = %v", s.FirstDone, s.LastDone)
	}
	if n, err := l.DoneCount(ctx); n != 2 || err != nil {
		t.Errorf("DoneCount = %d, %v; want 2", n, err)
	}
	if n, err := l.ReadyCount(ctx); n != 2 || err != nil {
		t.Errorf("ReadyCount = %d, %v; want 2", n, err)
	}
	if err := rdb.HSet(ctx, faults.KeyDone, "x", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Snapshot(ctx); err == nil || err.Error() != `faults: ledger fault:done: strconv.ParseInt: parsing "x": invalid syntax` {
		t.Errorf("Snapshot with a bad field: %v", err)
	}
}

func TestCount(t *testing.T) {
	boom := errors.New("boom")
	calls := []faults.Call{
		{Seq: 1},             // done once
		{Seq: 2},             // done twice: duplicated
		{Seq: 3},             // never done: lost
		{Seq: 4},             // archived
		{Seq: 5, Err: boom},  // never stored
		{Seq: 6, Err: boom},  // ran: phantom
		{Seq: 7, Err: boom},  // archived: phantom
		{Seq: 8},             // retried once, done
		{Seq: 9, Err: boom},  // ran twice: phantom and duplicated
		{Seq: 10, Err: boom}, // started, never finished, not stored
		// Outcome unknown, enqueued again and acknowledged: done once.
		{Seq: 11, Err: boom, Unknown: true, Resolved: true},
		// Outcome unknown, not resolved, but it ran: no phantom, the error
		// did not claim a failure.
		{Seq: 12, Err: boom, Unknown: true},
	}
	s := faults.Snapshot{
		Done:    map[int64]int{1: 1, 2: 2, 6: 1, 8: 1, 9: 2, 11: 1, 12: 1},
		Retried: map[int64]int{1: 0, 2: 0, 6: 0, 8: 1, 9: 0, 10: 0},
		Runs:    map[int64]int{10: 1},
	}
	got := faults.Count(calls, s, map[int64]bool{4: true, 7: true})
	want := faults.Counts{Acked: 6, Errored: 6, Lost: 1, Archived: 1, Duplicated: 2, Phantom: 3, Unknown: 2, Retried: 1}
	if got != want {
		t.Errorf("Count = %+v\nwant    %+v", got, want)
	}
}

func TestTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	boom := errors.New("boom")
	calls := []faults.Call{
		{Seq: 1, Start: at(0), Latency: 10 * time.Millisecond},              // before the window
		{Seq: 2, Start: at(90), Latency: 300 * time.Millisecond, Err: boom}, // overlaps its start
		{Seq: 3, Start: at(150), Latency: 2000 * time.Millisecond, Err: boom},
		{Seq: 4, Start: at(600), Latency: 5000 * time.Millisecond}, // after the window
	}
	if d, all := faults.MaxLatency(calls, at(100), at(500)); d != 2000*time.Millisecond || !all {
		t.Errorf("MaxLatency = %s, %v; want 2s, true", d, all)
	}
	if d, all := faults.MaxLatency(calls, at(100), at(700)); d != 5000*time.Millisecond || all {
		t.Errorf("MaxLatency = %s, %v; want 5s, false", d, all)
	}
	if d, all := faults.MaxLatency(calls, at(20000), at(21000)); d != 0 || all {
		t.Errorf("MaxLatency of an empty window = %s, %v; want 0, false", d, all)
	}
	s := faults.Snapshot{FirstDone: map[int64]time.Time{1: at(100), 2: at(150), 3: at(1150), 4: at(1200), 5: at(9000)}}
	if g := faults.MaxGap(s, at(0), at(2000)); g != time.Second {
		t.Errorf("MaxGap = %s; want 1s", g)
	}
	if g := faults.MaxGap(s, at(1200), at(1300)); g != 100*time.Millisecond {
		t.Errorf("MaxGap with no finish inside = %s; want 100ms", g)
	}
	if first, ok := faults.FirstDoneAfter(s, at(1000)); !ok || !first.Equal(at(1150)) {
		t.Errorf("FirstDoneAfter = %v, %v; want %v", first, ok, at(1150))
	}
	if _, ok := faults.FirstDoneAfter(s, at(10000)); ok {
		t.Error("FirstDoneAfter past every finish reported one")
	}
}

func TestRecordConcurrent(t *testing.T) {
	var r faults.Record
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				r.Add(faults.Call{Seq: int64(g*100 + i + 1)})
			}
		})
	}
	wg.Wait()
	calls := r.Calls()
	seen := map[int64]bool{}
	for _, c := range calls {
		seen[c.Seq] = true
	}
	if len(calls) != 800 || len(seen) != 800 {
		t.Fatalf("%d calls, %d distinct; want 800", len(calls), len(seen))
	}
}

func TestReportMarkdown(t *testing.T) {
	var rep faults.Report
	var wg sync.WaitGroup
	for _, res := range []faults.Result{
		{Scenario: "b", Engine: faults.EngineAsynq, Counts: faults.Counts{Acked: 10, Duplicated: 3, Retried: 3},
			Recovery: 150 * time.Second, Drained: 151500 * time.Millisecond, MaxEnqueueLatency: faults.NotMeasured},
		{Scenario: "b", Engine: faults.EngineTuskq, Counts: faults.Counts{Acked: 10},
			Recovery: 35 * time.Second, Drained: 9999 * time.Millisecond, MaxEnqueueLatency: faults.NotMeasured,
			Notes: []string{"x", "y"}},
		{Scenario: "a", Engine: faults.EngineTuskq, Counts: faults.Counts{Acked: 7, Errored: 2, Unknown: 3},
			Recovery: 12 * time.Millisecond, Drained: faults.NotMeasured, MaxEnqueueLatency: 2 * time.Second},
		{Scenario: "zz", Engine: faults.EngineTuskq, Recovery: faults.NotMeasured, Drained: 0, MaxEnqueueLatency: 0},
	} {
		wg.Go(func() { rep.Add(res) }) // in any order
	}
	wg.Wait()
	want := "| scenario | engine | acked | enqueue errors | outcome unknown | lost | archived | duplicated | phantom | retries charged | recovery | drained | max enqueue latency | notes |\n" +
		"|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n" +
		"| b | tuskq | 10 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 35.0 s | 9999 ms | – | x; y |\n" +
		"|  | asynq | 10 | 0 | 0 | 0 | 0 | 3 | 0 | 3 | 150.0 s | 151.5 s | – |  |\n" +
		"| a | tuskq | 7 | 2 | 3 | 0 | 0 | 0 | 0 | 0 | 12 ms | – | 2000 ms |  |\n" +
		"| zz | tuskq | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | – | 0 ms | 0 ms |  |\n"
	if got := rep.Markdown([]string{"b", "a"}); got != want {
		t.Errorf("Markdown:\n%s\nwant\n%s", got, want)
	}
	if got := strconv.Itoa(len(rep.Results(nil))); got != "4" {
		t.Errorf("%s results; want 4", got)
	}
}
