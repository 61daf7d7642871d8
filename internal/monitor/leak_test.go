package monitor

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/internal/testutil"
)

// TestMain fails the package's tests when a goroutine outlives them: a server, scrape or login limiter that stops with the handler.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}
