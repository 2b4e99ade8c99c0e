#!/usr/bin/env bash
# build.sh: builds the container image immich-vault:VERSION without a
# Docker daemon and without a container registry:
#   1. the static immich-vault binary (CGO_ENABLED=0);
#   2. a Debian bookworm root file system made by mmdebstrap from the Debian
#      mirror apt uses (minbase + postgresql-client for db_mode: direct,
#      ca-certificates for S3 and monitors, tzdata for schedules), with the
#      docker CLI alone taken from Debian's docker.io package (for
#      db_mode: docker, through the host's socket) and the binary added;
#   3. buildah: an image FROM scratch holding that tree, entrypoint
#      immich-vault, default command `daemon`, committed to buildah's local
#      storage (vfs driver: works without overlay support) and written to
#      dist/immich-vault-image.tar (OCI archive: `podman load -i`, or
#      `skopeo copy oci-archive:... docker-daemon:...`).
# Needs root, mmdebstrap and buildah (`apt-get install -y mmdebstrap buildah`).
# Takes 2-4 minutes (the rootfs dominates).
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=${VERSION:-$(sed -n 's/^var version = "\(.*\)"/\1/p' cmd/immich-vault/main.go)}
TAG=${TAG:-immich-vault:$VERSION}
MIRROR=${MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
for t in mmdebstrap buildah; do
	command -v $t >/dev/null || { echo "image: needs $t (apt-get install -y $t)" >&2; exit 1; }
done
work=$(mktemp -d -t immich-vault-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p dist "$work/docker"

echo "== binary"
CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=$VERSION" -o "$work/immich-vault" ./cmd/immich-vault

echo "== docker CLI (Debian's docker.io package, /usr/bin/docker only)"
(cd "$work/docker" && apt-get download docker.io >/dev/null)
dpkg-deb --fsys-tarfile "$work"/docker/docker.io_*.deb | tar -x -C "$work/docker" ./usr/bin/docker

echo "== root file system (mmdebstrap bookworm from $MIRROR)"
mmdebstrap --quiet --mode=root --variant=minbase \
	--include=postgresql-client,ca-certificates,tzdata \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
	--customize-hook="install -m 0755 '$work/docker/usr/bin/docker' \"\$1/usr/bin/docker\"" \
	--customize-hook="install -m 0755 '$work/immich-vault' \"\$1/usr/bin/immich-vault\"" \
	--customize-hook='mkdir -p "$1/config" "$1/repo" "$1/state" "$1/cache"' \
	--customize-hook='rm -rf "$1/var/lib/apt/lists"/* "$1/var/cache/apt"/*' \
	bookworm "$work/rootfs.tar" "$MIRROR"

echo "== image $TAG (buildah, from scratch)"
c=$(buildah from scratch)
trap 'buildah rm "$c" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
buildah add --quiet "$c" "$work/rootfs.tar" /
buildah config \
	--entrypoint '["/usr/bin/immich-vault"]' --cmd 'daemon' \
	--env IMMICH_VAULT_CONFIG=/config/config.yaml \
	--env IMMICH_VAULT_CACHE_DIR=/cache \
	--env IMMICH_VAULT_STATE_DIR=/state \
	--workingdir / \
	--label org.opencontainers.image.title=immich-vault \
	--label org.opencontainers.image.version="$VERSION" \
	--label org.opencontainers.image.source=https://github.com/immich-vault/immich-vault \
	--label org.opencontainers.image.licenses=Apache-2.0 \
	--healthcheck 'CMD /usr/bin/immich-vault --quiet daemon health' --healthcheck-interval 1m \
	"$c"
buildah commit --quiet --format docker "$c" "$TAG" >/dev/null
rm -f dist/immich-vault-image.tar
buildah push --quiet "$TAG" "oci-archive:dist/immich-vault-image.tar:$TAG"
echo "image: $TAG built; dist/immich-vault-image.tar ($(du -h dist/immich-vault-image.tar | cut -f1))"
