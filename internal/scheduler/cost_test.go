package scheduler_test

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tuskq/tuskq/internal/scheduler"
)

// TestSchedulerIdleCost measures the Redis load of one idle scheduler
// (schedules that do not tick during the measurement) with 10 and 1,000
// schedules: commands and bytes received per second. It is slow (about
// 70 s) and runs only with TUSKQTEST_SCHEDULER_COST=1:
//
//	TUSKQTEST_SCHEDULER_COST=1 go test -run TestSchedulerIdleCost -v ./internal/scheduler/
func TestSchedulerIdleCost(t *testing.T) {
	if os.Getenv("TUSKQTEST_SCHEDULER_COST") == "" {
		t.Skip("set TUSKQTEST_SCHEDULER_COST=1 to measure")
	}
	const window = 30 * time.Second
	for _, n := range []int{10, 1000} {
		e := setup(t)
		for i := range n {
			s := decode(t, fmt.Sprintf("s%04d", i), `{"cron":"0 0 0 1 1 *","type":"t:yearly","payload":{"report":"annual","n":`+strconv.Itoa(i)+`}}`)
			if _, err := e.store.Put(t.Context(), s, scheduler.SourceAPI); err != nil {
				t.Fatal(err)
			}
		}
		_, stop := run(t, e, 1, scheduler.Options{})
		time.Sleep(5 * time.Second) // start-up: load the schedules, read each one's ticks
		stats := func() (cmds, in int) {
			info, err := e.rdb.Info(t.Context(), "stats").Result()
			if err != nil {
				t.Fatal(err)
			}
			get := func(k string) int {
				m := regexp.MustCompile(k + `:(\d+)`).FindStringSubmatch(info)
				v, _ := strconv.Atoi(m[1])
				return v
			}
			return get("total_commands_processed"), get("total_net_input_bytes")
		}
		c0, b0 := stats()
		time.Sleep(window) // the measurement window
		c1, b1 := stats()
		stop()
		// The INFO call itself counts as one command.
		t.Logf("%d schedules: %.2f commands/s, %.0f bytes/s received by Redis, per idle scheduler",
			n, float64(c1-c0-1)/window.Seconds(), float64(b1-b0)/window.Seconds())
	}
}
