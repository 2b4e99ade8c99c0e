#!/usr/bin/env bash
# setfacl/getfacl (acl), setfattr/getfattr (attr) and chattr/lsattr
# (e2fsprogs) for the extended-metadata tests (cmd/immich-vault/e2e_xattr_test.go).
# Idempotent: does nothing when the tools exist.
set -euo pipefail
have() {
	command -v setfacl >/dev/null && command -v getfacl >/dev/null &&
		command -v setfattr >/dev/null && command -v getfattr >/dev/null &&
		command -v chattr >/dev/null && command -v lsattr >/dev/null
}
if have; then
	echo "acl/attr: already installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
	echo "acl/attr: not installed and not root (install acl attr e2fsprogs)" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show acl >/dev/null 2>&1; then
	$SUDO apt-get update
fi
$SUDO apt-get install -y --no-install-recommends acl attr e2fsprogs
have || { echo "acl/attr: installation did not provide setfacl/setfattr/chattr" >&2; exit 1; }
echo "acl/attr: installed"
