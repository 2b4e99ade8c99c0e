#!/usr/bin/env bash
# Debian's chromium, the headless browser the web UI test drives over the
# DevTools protocol (cmd/immich-vault/e2e_serve_browser_test.go).
# Idempotent: does nothing when a chromium binary exists.
set -euo pipefail
have() { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }
if have; then
	echo "chromium: already installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
	echo "chromium: not installed and not root (install chromium)" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
	$SUDO apt-get update
fi
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core
have || { echo "chromium: installation did not provide a chromium binary" >&2; exit 1; }
echo "chromium: installed"
