#!/usr/bin/env bash
# make security: known vulnerabilities in the dependencies and the standard library
# (govulncheck, a Go tool dependency in go.mod), then a static security linter (gosec,
# pinned to GOSEC_VERSION and installed into bin/ on first use).
#
# govulncheck needs the vulnerability database (https://vuln.go.dev, or GOVULNDB: a mirror,
# e.g. file:///path/to/vulndb). When it cannot be reached (an offline machine or CI), this
# prints a WARNING and goes on; findings fail the target when it can.
#
# gosec scans everything but gen/ (generated) and tests. Every finding is either fixed or
# annotated where it occurs: `// #nosec G123 -- why it is fine` (rule and reason required).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
GO=${GO:-go}
GOSEC_VERSION=${GOSEC_VERSION:-v2.30.0}
status=0

echo "security: govulncheck" >&2
db_args=()
[ -z "${GOVULNDB:-}" ] || db_args=(-db "$GOVULNDB")
out=$("$GO" tool govulncheck "${db_args[@]}" ./... 2>&1)
rc=$?
case $rc in
  0) echo "govulncheck: no known vulnerability reaches the code" >&2 ;;
  3) printf '%s\n' "$out"; echo "govulncheck: FAILED: known vulnerabilities (above)" >&2; status=1 ;;
  *)
    if grep -qiE 'fetching vulnerabilities|vuln\.go\.dev|no such host|dial tcp|i/o timeout|connection refused|TLS handshake|network is unreachable' <<<"$out"; then
      printf '%s\n' "$out" >&2
      echo "security: WARNING: govulncheck could not reach the vulnerability database (${GOVULNDB:-https://vuln.go.dev}):" \
        "the dependencies were NOT checked for known vulnerabilities. Run make security where it is reachable, or set GOVULNDB to a mirror." >&2
    else
      printf '%s\n' "$out"; echo "govulncheck: FAILED (exit $rc)" >&2; status=1
    fi
    ;;
esac

echo "security: gosec $GOSEC_VERSION" >&2
gosec=bin/gosec
stamp=bin/.gosec-$GOSEC_VERSION
if [ ! -x "$gosec" ] || [ ! -e "$stamp" ]; then
  echo "security: installing gosec $GOSEC_VERSION into bin/ (once)" >&2
  if ! GOBIN="$PWD/bin" GOFLAGS=-mod=mod "$GO" install "github.com/securego/gosec/v2/cmd/gosec@$GOSEC_VERSION"; then
    echo "security: FAILED: could not install gosec" >&2
    exit 1
  fi
  rm -f bin/.gosec-* && touch "$stamp"
fi
if ! "$gosec" -quiet -fmt text -exclude-generated -exclude-dir=gen -exclude-dir=tools \
  -nosec-require-rules -nosec-require-justification ./...; then
  echo "gosec: FAILED: fix each finding, or annotate it: // #nosec G123 -- reason" >&2
  status=1
fi
exit $status
