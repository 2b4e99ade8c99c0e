#!/usr/bin/env bash
# bench-deps.sh checks the peers `make bench` compares immich-vault with.
# The bench runs whatever restic and kopia it finds on PATH and names their
# versions in the report; it should be the newest releases (restic 0.19.x,
# kopia 0.23.x or later), built outside this repository, e.g.
#   GOBIN=$HOME/peers/bin go install github.com/restic/restic/cmd/restic@latest
#   GOBIN=$HOME/peers/bin go install github.com/kopia/kopia@latest
#   PATH=$HOME/peers/bin:$PATH make bench
# When restic is missing, Debian's package (0.14 on bookworm) is installed
# as a fallback, with a warning. Debian has no kopia package. borg
# (borgbackup, single-threaded, long on the large corpora) is installed and
# compared only with BENCH_BORG=1. Idempotent; needs root (or sudo) for apt.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
fi

installable() { # installable PKG: true when apt knows a candidate version
	local cand
	cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
	[ -n "$cand" ] && [ "$cand" != "(none)" ]
}

want=()
command -v restic >/dev/null 2>&1 || want+=(restic)
if [ "${BENCH_BORG:-0}" = 1 ] && ! command -v borg >/dev/null 2>&1; then want+=(borgbackup); fi

if [ ${#want[@]} -gt 0 ]; then
	if [ "$SUDO" = none ]; then
		echo "bench-deps: not root and no sudo: cannot install ${want[*]}; the benchmark runs without them" >&2
	else
		if ! installable "${want[0]}"; then $SUDO apt-get update -qq || true; fi
		pkgs=()
		for p in "${want[@]}"; do
			if installable "$p"; then pkgs+=("$p"); else
				echo "bench-deps: no Debian package for $p on this system: it is left out of the comparison" >&2
			fi
		done
		if [ ${#pkgs[@]} -gt 0 ]; then
			DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
			echo "bench-deps: installed ${pkgs[*]} from Debian"
		fi
	fi
fi

# older VERSION MIN: true when VERSION (x.y[.z]) is below MIN.
older() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" != "$2" ]; }

if command -v restic >/dev/null 2>&1; then
	v=$(restic version | awk '{print $2}')
	echo "bench-deps: restic $v: $(command -v restic)"
	if older "$v" 0.19.0; then echo "bench-deps: warning: restic $v is older than the newest release (0.19.x); see the top of scripts/bench-deps.sh" >&2; fi
else
	echo "bench-deps: restic: absent"
fi
if command -v kopia >/dev/null 2>&1; then
	v=$(kopia --version | awk '{print $1}')
	echo "bench-deps: kopia $v: $(command -v kopia)"
	if older "$v" 0.23.0; then echo "bench-deps: warning: kopia $v is older than the newest release (0.23.x)" >&2; fi
else
	echo "bench-deps: kopia: absent (no Debian package; see the top of scripts/bench-deps.sh)"
fi
if command -v borg >/dev/null 2>&1; then
	echo "bench-deps: borg: $(command -v borg)"
else
	echo "bench-deps: borg: absent (BENCH_BORG=1 installs Debian's)"
fi
