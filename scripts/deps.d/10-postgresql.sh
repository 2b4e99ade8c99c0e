#!/usr/bin/env bash
# PostgreSQL server + contrib (cube, earthdistance) for the Immich tests:
# internal/pgtest starts throwaway clusters from /usr/lib/postgresql/*/bin.
# Idempotent: does nothing when initdb and the earthdistance extension exist.
set -euo pipefail
have() {
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null &&
		compgen -G '/usr/share/postgresql/*/extension/earthdistance.control' >/dev/null
}
if have; then
	echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')already installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
	echo "postgresql: not installed and not root (install postgresql postgresql-contrib)" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show postgresql-contrib >/dev/null 2>&1; then
	$SUDO apt-get update
fi
# The packages create and start a default cluster on some systems; the tests
# never use it.
$SUDO apt-get install -y --no-install-recommends postgresql postgresql-contrib
have || { echo "postgresql: installation did not provide initdb/earthdistance" >&2; exit 1; }
echo "postgresql: installed"
