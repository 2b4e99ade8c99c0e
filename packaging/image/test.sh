#!/usr/bin/env bash
# test.sh: runs the image built by build.sh with podman: the tools it must
# hold answer (immich-vault, pg_dump, psql, docker), then a real backup runs
# inside it (init, then `run` from a mounted configuration file: backup of a
# read-only mounted folder, forget, check), and the host's immich-vault
# restores that snapshot and compares it byte for byte with the source.
#
# In this sandbox podman works only as root with the vfs storage driver,
# runc (crun refuses the hybrid cgroup v1/v2 mounts: "cgroups in hybrid
# mode not supported"), the cgroupfs manager and ulimits no higher than the
# sandbox's hard limits (podman's default nproc 1048576 fails with
# "setrlimit RLIMIT_NPROC: Operation not permitted": no CAP_SYS_RESOURCE):
# PODMAN overrides the command line. Without podman it fails under CI=true
# and says SKIPPED otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=${VERSION:-$(sed -n 's/^var version = "\(.*\)"/\1/p' cmd/immich-vault/main.go)}
TAG=${TAG:-immich-vault:$VERSION}
if ! command -v podman >/dev/null; then
	if [ "${CI:-}" = true ]; then echo "image-test: FAIL: podman missing (CI=true)"; exit 1; fi
	echo "image-test: SKIPPED: podman missing"; exit 0
fi
work=$(mktemp -d -t immich-vault-image-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=4096:4096"]\n' "$(ulimit -Hn)" "$(ulimit -Hn)" > "$work/containers.conf"
export CONTAINERS_CONF=${CONTAINERS_CONF:-$work/containers.conf}
PODMAN=${PODMAN:-podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs}
fail() { echo "image-test: FAIL: $*"; exit 1; }

if ! $PODMAN image exists "localhost/$TAG"; then
	[ -f dist/immich-vault-image.tar ] || fail "no image $TAG and no dist/immich-vault-image.tar: run make image first"
	$PODMAN load -q -i dist/immich-vault-image.tar
fi
run() { $PODMAN run --rm --network none "$@"; }

echo "== tools in the image"
run "localhost/$TAG" --config= version | grep -q "^immich-vault $VERSION " || fail "immich-vault version"
run --entrypoint pg_dump "localhost/$TAG" --version | grep -q "^pg_dump (PostgreSQL)" || fail "pg_dump"
run --entrypoint psql "localhost/$TAG" --version | grep -q "^psql (PostgreSQL)" || fail "psql"
run --entrypoint docker "localhost/$TAG" --version | grep -q "^Docker version" || fail "docker CLI"

echo "== a backup inside the container"
mkdir -p "$work/data/sub" "$work/repo" "$work/config" "$work/restore"
head -c 3000000 /dev/urandom > "$work/data/photo.jpg"
echo "hello from the host" > "$work/data/sub/note.txt"
echo "image test password" > "$work/config/password"
chmod 600 "$work/config/password"
cat > "$work/config/config.yaml" <<'YAML'
repository: /repo
password_file: /config/password
backup:
  paths: [/data]
  host: immich-vault-container
retention:
  keep_last: 3
check:
  every: always
metrics_file: /state/immich_vault.prom
YAML
mounts=(-v "$work/data:/data:ro" -v "$work/repo:/repo" -v "$work/config:/config:ro")
run "${mounts[@]}" "localhost/$TAG" init || fail "init in the container"
run "${mounts[@]}" "localhost/$TAG" run || fail "run in the container"

echo "== the host reads what the container wrote"
bin="$work/immich-vault"
go build -o "$bin" ./cmd/immich-vault
export IMMICH_VAULT_PASSWORD_FILE="$work/config/password" IMMICH_VAULT_CACHE_DIR="$work/cache"
"$bin" -r "$work/repo" snapshots --host immich-vault-container | tee "$work/snapshots"
grep -q "1 snapshots" "$work/snapshots" || fail "want 1 snapshot from the container"
"$bin" -r "$work/repo" check --read-data -q || fail "check --read-data"
"$bin" -r "$work/repo" restore latest:/data --target "$work/restore" -q || fail "restore"
diff -r "$work/data" "$work/restore" || fail "restored files differ from the source"

echo "== the daemon in the container: a job fires, health answers, podman stop ends it cleanly"
cat >> "$work/config/config.yaml" <<'YAML'
daemon:
  jobs:
    - name: often
      schedule: "*/2 * * * * *"
      command: [snapshots]
YAML
name=immich-vault-test-$$
$PODMAN run -d --name "$name" --network none "${mounts[@]}" "localhost/$TAG" >/dev/null
trap '$PODMAN rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
ok=""
for _ in $(seq 1200); do # up to 2 minutes
	if $PODMAN logs "$name" 2>&1 | grep -q "job often ok (exit 0)" &&
		$PODMAN exec "$name" immich-vault --quiet daemon health >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.1
done
[ -n "$ok" ] || { $PODMAN logs "$name" 2>&1 | tail -20; fail "the daemon in the container: no job ran or no health answer within 2 minutes"; }
$PODMAN stop -t 120 "$name" >/dev/null
code=$($PODMAN inspect -f '{{.State.ExitCode}}' "$name")
$PODMAN logs "$name" 2>&1 | grep -q "daemon: stopped" || fail "the daemon's log lacks 'daemon: stopped'"
[ "$code" = 0 ] || { $PODMAN logs "$name" 2>&1 | tail -20; fail "daemon exit code $code after podman stop, want 0"; }
echo "image-test: PASS (backup in the container, restored byte-identical on the host; daemon ran a job, answered health, stopped with exit 0)"
