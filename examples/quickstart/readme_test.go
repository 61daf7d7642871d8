package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEListsEveryMakeTarget: every target that `make help` lists (a
// Makefile rule with a "## description") has a row in the README's table.
func TestREADMEListsEveryMakeTarget(t *testing.T) {
	t.Parallel()
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The same rule as the Makefile's help target.
	rule := regexp.MustCompile(`(?m)^([a-z][a-z-]*):.*## `)
	targets := rule.FindAllStringSubmatch(string(makefile), -1)
	if len(targets) < 5 {
		t.Fatalf("found only %d documented targets in the Makefile: is the pattern still right?", len(targets))
	}
	for _, m := range targets {
		if row := "| `make " + m[1] + "` |"; !strings.Contains(string(readme), row) {
			t.Errorf("README.md has no row %q in its table of make targets (Development)", row)
		}
	}
}
