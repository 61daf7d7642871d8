package repocheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// make plugins builds every example plugin that is Go code: the native
// .so plugins and Go programs run by the process runtime. The test runs the
// real target with GO pointing at a stand-in that records each go command
// instead of compiling, so it takes a second and needs no toolchain work.
func TestMakePluginsBuildsEveryGoExample(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	root := repoRoot(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "calls")
	fakeGo := filepath.Join(dir, "go")
	script := "#!/bin/sh\necho \"$*\" >> " + record + "\n" +
		"if [ \"$1\" = list ]; then echo \"github.com/tuskq/tuskq/${2#./}\"; fi\n"
	if err := os.WriteFile(fakeGo, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "make", "--no-print-directory", "-C", root, "plugins", "GO="+fakeGo)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make plugins: %v\n%s", err, out)
	}
	calls, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var built []string
	for _, line := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "build" {
			built = append(built, f[len(f)-1])
		}
	}
	// Every example directory that holds Go files must be built, and
	// nothing else.
	var want []string
	examples, err := filepath.Glob(filepath.Join(root, "examples", "plugins", "*", "plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range examples {
		d := filepath.Dir(m)
		if gos, _ := filepath.Glob(filepath.Join(d, "*.go")); len(gos) > 0 {
			want = append(want, "./examples/plugins/"+filepath.Base(d))
		}
	}
	slices.Sort(built)
	slices.Sort(want)
	if len(want) < 2 || !slices.Equal(built, want) {
		t.Fatalf("make plugins built %v; want every Go example %v", built, want)
	}
}
