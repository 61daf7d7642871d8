package deploycheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelmSchemasCurrent regenerates deploy/helm/schemas from the modules
// the Makefile names (K8S_MODULE, KEDA_MODULE, PROMOP_MODULE) and
// compares. It runs only when those modules are in the module cache
// ('make helm-schemas' downloads them); it downloads nothing.
func TestHelmSchemasCurrent(t *testing.T) {
	t.Parallel()
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	variable := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(.+)$`).FindSubmatch(makefile)
		if m == nil {
			t.Fatalf("the Makefile sets no %s", name)
		}
		return strings.TrimSpace(string(m[1]))
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cache := strings.TrimSpace(string(out))
	dir := func(module string) string {
		path, version, _ := strings.Cut(module, "@")
		// The module cache writes an upper-case letter as "!" and the letter.
		escaped := regexp.MustCompile(`[A-Z]`).ReplaceAllStringFunc(path, func(c string) string { return "!" + strings.ToLower(c) })
		d := filepath.Join(cache, escaped+"@"+version)
		if _, err := os.Stat(d); err != nil {
			t.Skipf("%s is not in the module cache: 'make helm-schemas' downloads it", module)
		}
		return d
	}
	k8s, keda, promop := dir(variable("K8S_MODULE")), dir(variable("KEDA_MODULE")), dir(variable("PROMOP_MODULE"))
	tmp := t.TempDir()
	args := []string{"run", "./internal/deploycheck/schemagen",
		"-swagger", filepath.Join(k8s, "api/openapi-spec/swagger.json"),
		"-crd", filepath.Join(keda, "config/crd/bases/keda.sh_scaledobjects.yaml") + ":v1alpha1",
		"-crd", filepath.Join(promop, "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml") + ":v1",
		"-out", tmp}
	args = append(args, strings.Fields(variable("HELM_KINDS"))...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("schemagen: %v\n%s", err, out)
	}
	fresh, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadDir(schemaDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != len(committed) {
		t.Errorf("deploy/helm/schemas has %d files, schemagen writes %d: run 'make helm-schemas'", len(committed), len(fresh))
	}
	for _, f := range fresh {
		want, err := os.ReadFile(filepath.Join(tmp, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(schemaDir, f.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("deploy/helm/schemas/%s is not what schemagen writes (%v): run 'make helm-schemas'", f.Name(), err)
		}
	}
}
