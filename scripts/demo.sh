#!/usr/bin/env bash
# demo.sh — the README's first command (`make demo`).
#
# Builds immich-vault, generates a small Immich-like upload location in a
# temporary directory, backs it up into a fresh local repository, lists it,
# restores it into a new directory, compares the restore with the original
# (content, sizes, modes, mtimes) and says where everything is.
#
# Needs only bash, coreutils and go. When PostgreSQL is installed
# (/usr/lib/postgresql/*/bin), it also runs the Immich workflow against a
# throwaway cluster: immich backup -> immich restore -> immich verify. DEMO_DIR=/some/empty/dir to choose the
# location; it is kept afterwards so you can explore it.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
demo="${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/immich-vault-demo.XXXXXX")}"
mkdir -p "$demo"
if [ -n "$(ls -A "$demo")" ]; then
	echo "demo: $demo is not empty; set DEMO_DIR to an empty or new directory" >&2
	exit 1
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\nFAIL: %s\n(everything is in %s)\n' "$*" "$demo" >&2; exit 1; }
trap 'fail "command failed at line $LINENO"' ERR

bin="$root/bin/immich-vault"
step "building $bin"
(cd "$root" && go build -o "$bin" ./cmd/immich-vault)
"$bin" version

src="$demo/upload-location"
repo="$demo/repository"
restore="$demo/restore"
cache="$demo/cache"
pwfile="$demo/password"

# uuid prints a random version-4 style UUID using only /dev/urandom and od.
uuid() {
	local h
	h=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	printf '%s-%s-4%s-a%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" "${h:17:3}" "${h:20:12}"
}
# blob PATH MIN_KB MAX_KB writes random (incompressible, like JPEG/HEIC) bytes.
blob() {
	local kb=$(($2 + RANDOM % ($3 - $2 + 1)))
	mkdir -p "$(dirname "$1")"
	head -c "$((kb * 1024))" /dev/urandom >"$1"
}
xmp() {
	mkdir -p "$(dirname "$1")"
	cat >"$1" <<XMP
<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description>$2</dc:description></rdf:Description>
</rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>
XMP
}

step "generating a sample Immich upload location in $src"
user=$(uuid)
for d in library upload thumbs encoded-video profile backups; do
	mkdir -p "$src/$d"
	: >"$src/$d/.immich" # Immich's folder-check markers
done
n=0
for day in 2024-06-01 2024-06-02 2024-07-14; do
	for i in 1 2; do
		n=$((n + 1))
		photo="$src/library/admin/${day:0:4}/$day/IMG_$(printf %04d $n).jpg"
		blob "$photo" 1024 3072
		xmp "$photo.xmp" "Holiday photo $n"
		touch -d "$day 12:0$i:00.123456789" "$photo" "$photo.xmp"
	done
done
for i in 1 2 3; do
	id=$(uuid)
	blob "$src/upload/$user/${id:0:2}/${id:2:2}/$id.heic" 1024 2048
	blob "$src/thumbs/$user/${id:0:2}/${id:2:2}/$id-thumbnail.webp" 8 30
	blob "$src/thumbs/$user/${id:0:2}/${id:2:2}/$id-preview.jpeg" 100 300
done
vid=$(uuid)
blob "$src/encoded-video/$user/${vid:0:2}/${vid:2:2}/$vid.mp4" 2048 3072
blob "$src/profile/$user/$(uuid).jpg" 50 100
head -c 200000 /dev/urandom | od -An -tx1 >"$src/backups/immich-db-backup-20240715T020000.sql"
(shopt -s globstar dotglob nullglob; cd "$src" && c=0 && for p in **; do [ -f "$p" ] && c=$((c + 1)); done; echo "$c files, $(du -sh . | cut -f1)")

step "creating a password file (mode 0600; the password never appears on a command line)"
(umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$pwfile")
export IMMICH_VAULT_REPOSITORY="$repo"
export IMMICH_VAULT_PASSWORD_FILE="$pwfile"
export IMMICH_VAULT_CACHE_DIR="$cache"
unset IMMICH_VAULT_PASSWORD IMMICH_VAULT_PASSWORD_COMMAND

step "immich-vault init"
"$bin" init

step "immich-vault backup $src"
"$bin" backup --tag demo "$src"

step "immich-vault snapshots"
"$bin" snapshots

step "immich-vault ls latest (first 15 entries)"
"$bin" ls latest | head -n 15 || true

step "immich-vault check --read-data"
"$bin" check --read-data

step "immich-vault stats"
"$bin" stats

step "immich-vault restore latest:$src --target $restore"
"$bin" restore "latest:$src" --target "$restore"

step "comparing $src with $restore"
# manifest DIR: one line per node: relative path, type, size, mode, mtime
# (nanoseconds), and the SHA-256 of regular files.
manifest() {
	(
		cd "$1"
		shopt -s globstar dotglob nullglob
		for p in **; do
			if [ -f "$p" ] && [ ! -L "$p" ]; then
				sum=$(sha256sum <"$p" | cut -d' ' -f1)
			else
				sum=-
			fi
			printf '%s|%s\n' "$(stat -c '%n|%F|%s|%a|%y' -- "$p")" "$sum"
		done
	) | LC_ALL=C sort
}
manifest "$src" >"$demo/manifest.source"
manifest "$restore" >"$demo/manifest.restore"
if command -v diff >/dev/null; then
	diff -r "$src" "$restore" || fail "restored content differs (diff -r above)"
fi
if [ "$(cat "$demo/manifest.source")" != "$(cat "$demo/manifest.restore")" ]; then
	if command -v diff >/dev/null; then diff "$demo/manifest.source" "$demo/manifest.restore" || true; fi
	fail "restored sizes, modes or mtimes differ (manifests: $demo/manifest.source vs $demo/manifest.restore)"
fi
files=$(grep -c '|regular' "$demo/manifest.source" || true)

# ---------------------------------------------------------------------------
# Immich workflow with a real database, when PostgreSQL is installed
# (Debian: apt-get install postgresql postgresql-contrib): a throwaway
# cluster in $demo/postgres, a small Immich-like database whose rows point at
# the sample files above, then immich backup -> restore -> verify.
immich_demo=skipped
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$pgbin" ] && [ -x "$pgbin/initdb" ]; then
	step "PostgreSQL found in $pgbin: starting a throwaway cluster in $demo/postgres"
	pg="$demo/postgres"
	mkdir -p "$pg/data" "$pg/sock"
	runas=()
	if [ "$(id -u)" -eq 0 ]; then
		# initdb refuses root: the cluster runs as the postgres system user.
		chmod 755 "$demo"
		chown -R postgres: "$pg"
		runas=(runuser -u postgres --)
	fi
	port=$((20000 + RANDOM % 20000))
	"${runas[@]}" "$pgbin/initdb" -D "$pg/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$pg/initdb.log"
	"${runas[@]}" "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/log" -w \
		-o "-p $port -k $pg/sock -c listen_addresses='' -c fsync=off" start >/dev/null
	stop_pg() { "${runas[@]}" "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1 || true; }
	trap 'stop_pg' EXIT
	export PGHOST="$pg/sock" PGPORT="$port" PGUSER=postgres PATH="$pgbin:$PATH"
	unset PGPASSWORD PGDATABASE

	step "creating a sample Immich database whose rows reference the sample files"
	createdb immich
	{
		cat "$root/internal/pgtest/testdata/immich_schema.sql"
		echo "INSERT INTO \"user\" (id, email, name, \"isAdmin\", \"storageLabel\") VALUES ('$user','admin@example.com','Admin',true,'admin');"
		(
			cd "$src"
			shopt -s globstar nullglob
			for p in library/**/*.jpg upload/**/*.heic encoded-video/**/*.mp4; do
				id=$(uuid)
				sum=$(sha1sum <"$p" | cut -d' ' -f1)
				type=IMAGE
				case "$p" in *.mp4) type=VIDEO ;; esac
				echo "INSERT INTO asset (id, \"ownerId\", type, \"originalPath\", \"originalFileName\", checksum) VALUES ('$id','$user','$type','/data/$p','$(basename "$p")',decode('$sum','hex'));"
			done
		)
		echo "INSERT INTO album (id, \"ownerId\", \"albumName\") VALUES ('$(uuid)','$user','Holidays');"
		echo "INSERT INTO version_history (version) VALUES ('v2.5.6');"
	} | psql -X -q -v ON_ERROR_STOP=1 -d immich

	step "immich-vault immich backup (database first, then files; direct PostgreSQL connection)"
	PGDATABASE=immich "$bin" immich backup --upload-location "$src" --db-mode direct

	step "immich-vault immich snapshots"
	"$bin" immich snapshots

	step "immich-vault immich verify --snapshot latest --checksums (no restore needed)"
	"$bin" immich verify --snapshot latest --checksums

	irestore="$demo/immich-restore"
	step "immich-vault immich restore latest: files to $irestore, database into a fresh database immich_restored"
	"$bin" immich restore latest --target "$irestore" --db-mode direct --db-name immich_restored

	step "immich-vault immich verify --live on the restored install"
	"$bin" immich verify --live --upload-location "$irestore" --db-mode direct --db-name immich_restored --checksums
	immich_demo=passed
else
	printf '\n(PostgreSQL not installed: skipping the immich backup/restore/verify part; install postgresql postgresql-contrib to see it)\n'
fi
trap - ERR

cat <<EOF

PASS: $files files restored bit-identical, with the same sizes, modes and mtimes.
Immich database backup -> restore -> verify: $immich_demo.

  source        $src
  repository    $repo
  password file $pwfile
  cache         $cache
  restore       $restore

Try it yourself:
  export IMMICH_VAULT_REPOSITORY=$repo IMMICH_VAULT_PASSWORD_FILE=$pwfile IMMICH_VAULT_CACHE_DIR=$cache
  $bin snapshots
  $bin ls latest
Remove everything with: rm -rf $demo
EOF
