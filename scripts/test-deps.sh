#!/usr/bin/env bash
# Installs (idempotently) and prepares everything the test suite needs
# beyond Go, by running each scripts/deps.d/*.sh in name order. Each
# component (PostgreSQL, the S3 server, peers for benchmarks) owns one
# script there. Under CI=true a component that cannot be installed fails
# the run; tests never silently skip real components in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
for s in scripts/deps.d/*.sh; do
	echo "== test-deps: $s"
	bash "$s"
done
echo "== test-deps: done"
