package asynqrdb_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/internal/asynqrdb"
)

// TestAsynqVersionPinned fails when the asynq built in is not the version
// whose Redis layout this package mirrors: moving asynq means re-reading
// its internal/proto/asynq.proto, internal/base/base.go and the scripts of
// internal/rdb/rdb.go, updating this package (docs/operations.md, "asynq
// upgrades"), and then LayoutVersion.
func TestAsynqVersionPinned(t *testing.T) {
	t.Parallel()
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/hibiken/asynq "
	for _, line := range strings.Split(string(gomod), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "require"))
		v, ok := strings.CutPrefix(line, module)
		if !ok {
			continue
		}
		v = strings.Fields(v)[0]
		if v != asynqrdb.LayoutVersion {
			t.Fatalf("go.mod requires asynq %s but internal/asynqrdb mirrors asynq %s's Redis layout (task record, keys, scripts): "+
				"check internal/asynqrdb against the new version (docs/operations.md, \"asynq upgrades\"), then update LayoutVersion",
				v, asynqrdb.LayoutVersion)
		}
		return
	}
	t.Fatalf("go.mod does not require %s", strings.TrimSpace(module))
}
