package asynqrdb

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
)

// TestScriptBatcher calls scripts from many goroutines at once through one
// batcher: each call gets its own reply (a value, a script error, or
// NOSCRIPT for a script Redis does not know), and the calls shared round
// trips.
func TestScriptBatcher(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	const (
		echo = `if ARGV[1] == "fail" then return redis.error_reply("FAILED " .. KEYS[1]) end
redis.call("INCR", KEYS[1])
return KEYS[1] .. "=" .. ARGV[1]`
		unknown = "0123456789012345678901234567890123456789"
	)
	sha, err := rdb.ScriptLoad(ctx, echo).Result()
	if err != nil {
		t.Fatal(err)
	}
	var pipelines int
	var mu sync.Mutex
	rdb.AddHook(pipelineCounter{func() { mu.Lock(); pipelines++; mu.Unlock() }})

	b := NewScriptBatcher(rdb)
	const goroutines, calls = 20, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				key := fmt.Sprintf("k%d", g)
				switch i % 10 {
				case 3:
					cmd := b.evalSha(sha, []string{key}, []any{"fail"})
					if err := cmd.Err(); err == nil || err.Error() != "FAILED "+key {
						errs <- fmt.Errorf("goroutine %d call %d: err %w; want FAILED %s", g, i, err, key)
					}
				case 7:
					cmd := b.evalSha(unknown, []string{key}, []any{"x"})
					if err := cmd.Err(); err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
						errs <- fmt.Errorf("goroutine %d call %d: err %w; want NOSCRIPT", g, i, err)
					}
				default:
					want := fmt.Sprintf("%s=%d", key, i)
					got, err := b.evalSha(sha, []string{key}, []any{i}).Text()
					if err != nil || got != want {
						errs <- fmt.Errorf("goroutine %d call %d: %q, %w; want %q", g, i, got, err, want)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every successful call ran exactly once.
	for g := range goroutines {
		if n, err := rdb.Get(ctx, fmt.Sprintf("k%d", g)).Int(); err != nil || n != calls-10 {
			t.Errorf("k%d = %d, %v; want %d (each successful call once)", g, n, err, calls-10)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if pipelines == 0 || pipelines >= goroutines*calls {
		t.Errorf("%d pipelines for %d calls; want fewer, and at least one", pipelines, goroutines*calls)
	}
	t.Logf("%d calls in %d pipelines", goroutines*calls, pipelines)
}

// pipelineCounter counts the pipelines a client executes.
type pipelineCounter struct{ count func() }

func (h pipelineCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count()
		return next(ctx, cmds)
	}
}
