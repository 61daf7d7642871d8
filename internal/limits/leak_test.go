package limits_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tuskq/tuskq/internal/testutil"
)

// TestMain fails the package's tests when a goroutine outlives them: a
// lease renewal or a watch that its context does not stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LeakOptions()...)
}
