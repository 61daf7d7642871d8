package monitor

import (
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/limits"
	"github.com/tuskq/tuskq/internal/redistest"
)

// TestLimitMetrics: /metrics has each effective limit's capacity (a
// configured one, and one set at run time) and the slots in use.
func TestLimitMetrics(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t).Addr()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := t.Context()
	configured := []limits.Limit{{Name: "reports", Type: "report:*", Concurrency: 2}}
	if err := limits.NewStore(rdb).Set(ctx, limits.Limit{Name: "calls", Type: "call", Rate: limits.Rate{N: 120, Per: 60e9}}); err != nil {
		t.Fatal(err)
	}
	// One live slot and one expired (a dead worker's, past its lease).
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	rdb.ZAdd(ctx, "{tuskq:limit:reports}:slots:",
		redis.Z{Score: float64(now.UnixMilli() + 60000), Member: "live"},
		redis.Z{Score: float64(now.UnixMilli() - 1000), Member: "dead"})
	ts := serve(t, Options{Redis: redisAt(addr), Limits: configured})
	_, m := do(t, noRedirect(), http.MethodGet, ts.URL+"/metrics", nil)
	for _, want := range []string{
		`tuskq_limit_capacity{kind="concurrency",limit="reports"} 2` + "\n",
		`tuskq_limit_in_use{limit="reports"} 1` + "\n",
		`tuskq_limit_capacity{kind="rate",limit="calls"} 2` + "\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
