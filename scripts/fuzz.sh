#!/usr/bin/env bash
# Runs every fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME each.
# Used by 'make fuzz'; run from the repository root.
set -euo pipefail

FUZZTIME=${FUZZTIME:-10s}
GO=${GO:-go}

targets=0
# Each line: path/to/file_test.go:func FuzzName(
while IFS= read -r hit; do
	file=${hit%%:*}
	name=$(sed -E 's/^[^:]*:func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$hit")
	pkg=./$(dirname "${file#./}")
	echo "== $pkg $name ($FUZZTIME)"
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
	targets=$((targets + 1))
done < <(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v -e '^./.demo/' -e '^./bin/' | sort)

if [ "$targets" -eq 0 ]; then
	echo "no fuzz targets found (func FuzzXxx in *_test.go)"
	exit 1
fi
echo "fuzz: $targets targets ran for $FUZZTIME each without a failure"
