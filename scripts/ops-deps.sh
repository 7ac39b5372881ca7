#!/usr/bin/env bash
# Installs Debian's prometheus (prometheus, promtool) and pgbouncer when missing (as root),
# for make rules-test and make ops-test. Their packaged services are not used: the scripts
# run the binaries themselves on loopback ports.
set -euo pipefail
missing=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ops-deps: ${missing[*]} missing; install as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "ops-deps: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
