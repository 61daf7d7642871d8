package deploycheck

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite docs/helm-values.md from the chart's values.yaml")

const valuesDoc = "docs/helm-values.md"

// valuesTable renders the documented keys of a Helm values file as a
// Markdown table. A key is documented by a comment starting with "# --"
// right above it; its value (a whole map or list included) is its
// default. Every value must be documented, by its own comment or by one
// of a map above it.
func valuesTable(data []byte) (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("values: want a map at the top")
	}
	var b strings.Builder
	b.WriteString("| key | default | description |\n|---|---|---|\n")
	var problems []string
	var walk func(prefix string, m *yaml.Node)
	walk = func(prefix string, m *yaml.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			path := prefix + k.Value
			desc, ok := docComment(k.HeadComment)
			switch {
			case ok:
				def, err := defaultOf(v)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: %v", path, err))
					continue
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s |\n", path, def, cell(desc))
			case v.Kind == yaml.MappingNode && len(v.Content) > 0:
				walk(path+".", v)
			default:
				problems = append(problems, fmt.Sprintf("%s has no \"# --\" comment above it", path))
			}
		}
	}
	walk("", doc.Content[0])
	if len(problems) > 0 {
		return "", fmt.Errorf("values:\n%s", strings.Join(problems, "\n"))
	}
	return b.String(), nil
}

// docComment returns the text of a "# --" comment, its lines joined.
func docComment(c string) (string, bool) {
	lines := strings.Split(strings.TrimSpace(c), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "# --") {
			start = i
		}
	}
	if start < 0 {
		return "", false
	}
	var words []string
	for i, l := range lines[start:] {
		l = strings.TrimPrefix(strings.TrimSpace(l), "#")
		if i == 0 {
			l = strings.TrimPrefix(strings.TrimSpace(l), "--")
		}
		if l = strings.TrimSpace(l); l != "" {
			words = append(words, l)
		}
	}
	return strings.Join(words, " "), true
}

// defaultOf renders a value for the table: a scalar as written, a map or
// list as compact JSON.
func defaultOf(v *yaml.Node) (string, error) {
	if v.Kind == yaml.ScalarNode {
		if v.Value == "" {
			return "`\"\"`", nil
		}
		return "`" + cell(v.Value) + "`", nil
	}
	var x any
	if err := v.Decode(&x); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return "", err
	}
	return "`" + cell(strings.TrimSpace(buf.String())) + "`", nil
}

// cell escapes the pipes of a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// valuesDocText is the whole of docs/helm-values.md.
func valuesDocText(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	table, err := valuesTable(data)
	if err != nil {
		t.Fatal(err)
	}
	return "# Helm chart values\n\n" +
		"<!-- Generated from deploy/helm/tuskq/values.yaml by 'make helm-docs'; edit the comments there. -->\n\n" +
		"The values of the chart in `deploy/helm/tuskq`; how to install it, the\n" +
		"Secret it needs and how it scales are in [operations](operations.md#kubernetes).\n" +
		"Set them with `--set key=value` or a file given with `-f`: maps merge\n" +
		"with these defaults, a list replaces its default whole.\n\n" + table
}

// TestHelmValuesDoc: docs/helm-values.md is the table of values.yaml
// ('make helm-docs' rewrites it).
func TestHelmValuesDoc(t *testing.T) {
	t.Parallel()
	want := valuesDocText(t)
	path := filepath.Join(root, valuesDoc)
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is not the table of deploy/helm/tuskq/values.yaml: run 'make helm-docs'", valuesDoc)
	}
}

func TestValuesTable(t *testing.T) {
	t.Parallel()
	got, err := valuesTable([]byte(`
# header, not a doc comment

a:
  # -- The first
  # of two lines.
  b: x|y
  # plain comment
  # -- Empty.
  c: ""
# -- A map.
d: {e: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := "| key | default | description |\n|---|---|---|\n" +
		"| `a.b` | `x\\|y` | The first of two lines. |\n" +
		"| `a.c` | `\"\"` | Empty. |\n" +
		"| `d` | `{\"e\":1}` | A map. |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	_, err = valuesTable([]byte("a:\n  b: 1\n"))
	if err == nil || !strings.Contains(err.Error(), `a.b has no "# --" comment above it`) {
		t.Errorf("an undocumented value: err %v", err)
	}
}
