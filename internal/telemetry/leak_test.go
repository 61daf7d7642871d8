package telemetry_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/internal/testutil"
)

// TestMain fails the package's tests when a goroutine outlives them: an
// exporter, batcher or receiver that Shutdown leaves running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}
