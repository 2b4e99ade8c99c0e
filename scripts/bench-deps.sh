#!/usr/bin/env bash
# bench-deps.sh installs the peers `make bench` compares immich-vault with:
# restic and borgbackup from Debian's packages, kopia when the distribution
# ships it (Debian bookworm does not; the driver then records it as absent).
# Idempotent: installed tools are left alone. Needs root (or sudo) for apt.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "bench-deps: not root and no sudo: install restic and borgbackup yourself; the benchmark runs without missing peers" >&2
		exit 0
	fi
fi

installable() { # installable PKG: true when apt knows a candidate version
	local cand
	cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
	[ -n "$cand" ] && [ "$cand" != "(none)" ]
}

want=()
command -v restic >/dev/null 2>&1 || want+=(restic)
command -v borg >/dev/null 2>&1 || want+=(borgbackup)
if ! command -v kopia >/dev/null 2>&1; then want+=(kopia); fi

if [ ${#want[@]} -eq 0 ]; then echo "bench-deps: restic, borg and kopia already installed"; exit 0; fi

if ! installable restic; then $SUDO apt-get update -qq || true; fi

pkgs=()
for p in "${want[@]}"; do
	if installable "$p"; then pkgs+=("$p"); else
		echo "bench-deps: no Debian package for $p on this system: it is left out of the comparison" >&2
	fi
done
if [ ${#pkgs[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
	echo "bench-deps: installed ${pkgs[*]}"
fi
for t in restic borg kopia; do
	if command -v "$t" >/dev/null 2>&1; then echo "bench-deps: $t: $(command -v "$t")"; else echo "bench-deps: $t: absent"; fi
done
