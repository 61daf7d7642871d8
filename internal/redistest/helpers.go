package redistest

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// FreezeUntil stops the server with SIGSTOP and returns the function that
// resumes it; the test's cleanup resumes it too when the test ends first
// (a frozen server cannot stop).
func (s *Server) FreezeUntil(tb testing.TB) (thaw func()) {
	tb.Helper()
	if err := s.Freeze(); err != nil {
		tb.Fatalf("redistest: freeze: %v", err)
	}
	thawed := false
	thaw = func() {
		if thawed {
			return
		}
		thawed = true
		if err := s.Thaw(); err != nil {
			tb.Errorf("redistest: thaw: %v", err)
		}
	}
	tb.Cleanup(thaw)
	return thaw
}

// CommandCalls returns how many times Redis has run the command (lower
// case, such as "evalsha"), from INFO commandstats; 0 when never.
func CommandCalls(tb testing.TB, rdb redis.UniversalClient, command string) int {
	tb.Helper()
	info, err := rdb.Info(tb.Context(), "commandstats").Result()
	if err != nil {
		tb.Fatalf("redistest: INFO commandstats: %v", err)
	}
	m := regexp.MustCompile(`cmdstat_` + regexp.QuoteMeta(command) + `:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
