#!/usr/bin/env bash
# make fuzz: run every fuzz target (func FuzzXxx in a _test.go file) with `go test -fuzz`
# for FUZZTIME (default 30s) each, one package and target at a time (go test -fuzz takes
# one target of one package). FUZZ=regexp limits the targets. New failing inputs are
# written to the package's testdata/fuzz/<target>/ by go test: commit them, they become
# part of the seed corpus that `make test` runs.
#
# FUZZMINIMIZETIME (default 100x: 100 executions) bounds the minimisation of each new input: Go's default
# (60s) let minimising take most of a short FUZZTIME (targets ran 3 s, then minimised
# until the end and reported 0 execs/s). Each target's executions are printed at the end.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
# shellcheck source=scripts/testenv.sh
. scripts/testenv.sh
trap private_pg_note EXIT

fuzztime=${FUZZTIME:-30s}
minimize=${FUZZMINIMIZETIME:-100x}
filter=${FUZZ:-.}
failed=()
summary=()
ran=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' cmd internal | xargs -n1 dirname | sort -u); do
  targets=$(go test -list '^Fuzz' "./$dir" | grep '^Fuzz' | grep -E -- "$filter") || continue
  for target in $targets; do
    echo "=== fuzz ./$dir $target ($fuzztime, minimising at most $minimize)" >&2
    ran=$((ran + 1))
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "./$dir" 2>&1 | tee "$out"; then
      failed+=("./$dir $target")
    fi
    # From the last progress line ("fuzz: elapsed: 1m3s, execs: 12345 (823/sec), ..."):
    # executions in all and per second on average (its own rate covers the last interval,
    # often the second after the fuzzing stopped).
    rate=$(grep -o 'elapsed: [0-9hms]*, execs: [0-9]* ([0-9]*/sec)' "$out" | tail -n 1 | awk '{
      t = $2; s = 0; n = 0
      for (i = 1; i <= length(t); i++) {
        c = substr(t, i, 1)
        if (c ~ /[0-9]/) n = n * 10 + c
        else { s += n * (c == "h" ? 3600 : c == "m" ? 60 : 1); n = 0 }
      }
      printf "%d execs in %ds: %d/s", $4, s, s ? $4 / s : 0
    }')
    summary+=("$(printf '%-45s %s' "./$dir $target" "${rate:-no progress line}")")
  done
done
[ "$ran" -gt 0 ] || { echo "fuzz.sh: no fuzz target matches $filter" >&2; exit 1; }
printf 'fuzz.sh: %s\n' "${summary[@]}" >&2
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz.sh: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz.sh: $ran targets, $fuzztime each: no failure" >&2
