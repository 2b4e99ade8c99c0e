#!/usr/bin/env bash
# test-deb.sh DEB: installs the package with dpkg -i, checks that the
# binary runs and that its man pages, completions, units and docs are where
# Debian looks for them, then removes it (dpkg -r, then -P) and checks that
# every file it installed is gone. Needs root and dpkg: without them it
# fails under CI=true and says so otherwise (exit 0, nothing tested).
set -euo pipefail
deb=${1:?usage: test-deb.sh PACKAGE.deb}
missing=""
[ "$(id -u)" = 0 ] || missing="root"
command -v dpkg >/dev/null || missing="$missing dpkg"
if [ -n "$missing" ]; then
	if [ "${CI:-}" = true ]; then echo "deb-test: FAIL: needs$missing (CI=true)"; exit 1; fi
	echo "deb-test: SKIPPED: needs$missing"; exit 0
fi
if dpkg -s immich-vault >/dev/null 2>&1; then
	echo "deb-test: FAIL: immich-vault is already installed here; not touching it (dpkg -r immich-vault first)"; exit 1
fi
fail() { echo "deb-test: FAIL: $*"; dpkg -P immich-vault >/dev/null 2>&1 || true; exit 1; }

dpkg-deb --info "$deb" | sed 's/^/  /'
dpkg -i "$deb" || fail "dpkg -i"
files=$(dpkg -L immich-vault)
for f in /usr/bin/immich-vault /usr/share/man/man1/immich-vault.1 /usr/share/man/man1/immich-vault-run.1 \
	/usr/share/man/man1/immich-vault-daemon.1 /usr/share/bash-completion/completions/immich-vault \
	/usr/share/zsh/vendor-completions/_immich-vault /usr/share/fish/vendor_completions.d/immich-vault.fish \
	/usr/lib/systemd/system/immich-vault.service /usr/lib/systemd/system/immich-vault.timer \
	/usr/share/doc/immich-vault/NIGHTLY.md /usr/share/doc/immich-vault/config.yaml; do
	[ -s "$f" ] || fail "$f missing or empty after dpkg -i"
	grep -qx "$f" <<<"$files" || fail "$f is not listed by dpkg -L"
done
/usr/bin/immich-vault version || fail "the installed binary does not run"
grep -q '^ExecStart=/usr/bin/immich-vault run ' /usr/lib/systemd/system/immich-vault.service || fail "the unit does not call /usr/bin/immich-vault run"
# The man page renders (man-db is optional here).
if command -v man >/dev/null; then MANPAGER=cat man -l /usr/share/man/man1/immich-vault-daemon.1 >/dev/null || fail "man page"; fi
dpkg -r immich-vault || fail "dpkg -r"
dpkg -P immich-vault || fail "dpkg -P"
left=""
while read -r f; do
	if [ -e "$f" ] && [ ! -d "$f" ]; then left="$left $f"; fi
done <<<"$files"
[ -z "$left" ] || fail "left after dpkg -r/-P:$left"
[ ! -e /usr/share/doc/immich-vault ] || fail "/usr/share/doc/immich-vault left after dpkg -P"
! dpkg -s immich-vault >/dev/null 2>&1 || fail "dpkg still knows the package"
echo "deb-test: PASS ($(wc -l <<<"$files") paths installed and removed)"
