package workercmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/internal/redistest"
)

// runLimits runs "worker limits ARGS --redis-addr addr [--config file]".
func runLimits(t *testing.T, addr, file string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := append([]string{"limits"}, args...)
	all = append(all, "--redis-addr", addr)
	if file != "" {
		all = append(all, "--config", file)
	}
	code := Main(t.Context(), Env{Args: all, Stdout: &stdout, Stderr: &stderr})
	return code, stdout.String(), stderr.String()
}

func TestLimitsCommand(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	addr := srv.Addr()
	file := filepath.Join(t.TempDir(), "tuskq.yaml")
	if err := os.WriteFile(file, []byte("limits:\n  - {name: reports, type: \"report:*\", concurrency: 2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runLimits(t, addr, file, "list")
	expect(t, "list", code, out, errOut, 0,
		"NAME     TYPE      QUEUE  CONCURRENCY  RATE  BURST  KEY  SOURCE\n"+
			"reports  report:*  -      2            -     -      -    config\n", "")

	code, out, errOut = runLimits(t, addr, file, "set", "reports", "--type", "report:*", "--concurrency", "5")
	expect(t, "set", code, out, errOut, 0, "limit reports set on every worker\n", "")
	code, out, errOut = runLimits(t, addr, file, "set", "calls", "--type", "call", "--rate", "100/s", "--burst", "10")
	expect(t, "set calls", code, out, errOut, 0, "limit calls set on every worker\n", "")
	code, out, errOut = runLimits(t, addr, file, "list")
	expect(t, "list after set", code, out, errOut, 0,
		"NAME     TYPE      QUEUE  CONCURRENCY  RATE   BURST  KEY  SOURCE\n"+
			"calls    call      -      -            100/s  10     -    override\n"+
			"reports  report:*  -      5            -      -      -    override\n", "")

	code, out, errOut = runLimits(t, addr, file, "clear", "reports")
	expect(t, "clear", code, out, errOut, 0, "limit reports cleared on every worker\n", "")
	code, out, errOut = runLimits(t, addr, file, "clear", "reports")
	expect(t, "clear again", code, out, errOut, 0, "limit reports had no run-time value; nothing changed\n", "")
	code, out, _ = runLimits(t, addr, file, "list", "--json")
	if code != 0 || !strings.Contains(out, `"source": "config"`) || !strings.Contains(out, `"concurrency": "2"`) {
		t.Fatalf("list --json: exit %d\n%s", code, out)
	}

	code, out, errOut = runLimits(t, addr, file, "set", "bad", "--type", "x", "--rate", "fast")
	expect(t, "bad rate", code, out, errOut, 2, "",
		"worker limits: set: limits[bad].rate: bad limit: rate \"fast\": write a count per period, such as 100/s, 50/m or 10/h (see worker limits --help)\n")
	code, out, errOut = runLimits(t, addr, file, "set", "bad", "--type", "x")
	expect(t, "no limit", code, out, errOut, 2, "",
		"worker limits: set: limits[bad]: set concurrency (such as 2) or rate (such as 100/s), or both (see worker limits --help)\n")
	code, _, errOut = runLimits(t, addr, file, "frob")
	if code != 2 || !strings.Contains(errOut, `unknown subcommand "frob"`) {
		t.Fatalf("frob: exit %d, %s", code, errOut)
	}
}
