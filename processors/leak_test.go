package processors_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/internal/testutil"
)

// TestMain fails the package's tests when a goroutine outlives them: an HTTP request or body reader that outlives its task.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}
