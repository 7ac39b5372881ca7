#!/usr/bin/env bash
# make fuzz: run every fuzz target (func FuzzXxx in a _test.go file) with `go test -fuzz`
# for FUZZTIME (default 30s) each, one package and target at a time (go test -fuzz takes
# one target of one package). FUZZ=regexp limits the targets. New failing inputs are
# written to the package's testdata/fuzz/<target>/ by go test: commit them, they become
# part of the seed corpus that `make test` runs.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/testenv.sh
. scripts/testenv.sh
trap private_pg_note EXIT

fuzztime=${FUZZTIME:-30s}
filter=${FUZZ:-.}
failed=()
ran=0
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' cmd internal | xargs -n1 dirname | sort -u); do
  targets=$(go test -list '^Fuzz' "./$dir" | grep '^Fuzz' | grep -E -- "$filter") || continue
  for target in $targets; do
    echo "=== fuzz ./$dir $target ($fuzztime)" >&2
    ran=$((ran + 1))
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir"; then
      failed+=("./$dir $target")
    fi
  done
done
[ "$ran" -gt 0 ] || { echo "fuzz.sh: no fuzz target matches $filter" >&2; exit 1; }
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz.sh: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz.sh: $ran targets, $fuzztime each: no failure" >&2
