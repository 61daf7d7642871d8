package logging_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/internal/testutil"
)

// TestMain fails the package's tests when a goroutine outlives them: a log handler's writer that outlives its logger.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}
