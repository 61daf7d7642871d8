package asynqrdb_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// keyPrefix starts every Redis key and channel of asynq (base.go).
const keyPrefix = "asynq:"

// allowedKeyLiterals lists, by slash path from the module root, the files
// outside internal/asynqrdb allowed a string literal starting with
// keyPrefix, each with the reason. Keep it empty: use the key functions
// of this package instead.
var allowedKeyLiterals = map[string]string{}

// asynqKeyLiterals returns "file:line: literal" for each string literal
// starting with keyPrefix in the non-test .go files under root, skipping
// the directories skip returns true for (slash paths from root).
func asynqKeyLiterals(t *testing.T, root string, skip func(rel string) bool) []string {
	t.Helper()
	var found []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "vendor" || name == "node_modules" || skip(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		if _, ok := allowedKeyLiterals[rel]; ok {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && strings.HasPrefix(s, keyPrefix) {
				found = append(found, rel+":"+strconv.Itoa(fset.Position(lit.Pos()).Line)+": "+lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestNoAsynqKeysOutside enforces the rule of this package: nothing else
// in the module builds asynq's Redis keys. A string literal starting with
// "asynq:" in a non-test .go file outside internal/asynqrdb fails, naming
// the file and line: use this package's key functions (keys.go) instead.
func TestNoAsynqKeysOutside(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	for _, hit := range asynqKeyLiterals(t, root, func(rel string) bool { return rel == "internal/asynqrdb" }) {
		t.Errorf("%s: asynq's keys are built only in internal/asynqrdb; use its key functions", hit)
	}
	for rel := range allowedKeyLiterals {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
			t.Errorf("allowedKeyLiterals names %s, which is gone: %v", rel, err)
		}
	}
}

// TestKeyLiteralScanFinds checks the scan itself: it finds the literals
// of this package's own key functions.
func TestKeyLiteralScanFinds(t *testing.T) {
	t.Parallel()
	hits := asynqKeyLiterals(t, ".", func(string) bool { return false })
	want := map[string]bool{`keys.go: "asynq:queues"`: false, `keys.go: "asynq:{"`: false}
	for _, h := range hits {
		file, rest, _ := strings.Cut(h, ":")
		_, lit, _ := strings.Cut(rest, ": ")
		if _, ok := want[file+": "+lit]; ok {
			want[file+": "+lit] = true
		}
	}
	for w, seen := range want {
		if !seen {
			t.Errorf("the scan missed %s (found %v)", w, hits)
		}
	}
}
