#!/usr/bin/env bash
# Installs versitygw, the real S3 server the S3 backend's tests and the S3
# benchmark start on 127.0.0.1 (see internal/s3test). It is built through
# the Go module proxy, outside the project's go.mod (it pulls ~85
# requirements), and cached under a versioned name so a re-run costs
# nothing: $(go env GOPATH)/bin/versitygw-v1.8.0. Override the location
# with VERSITYGW_BIN. Under CI=true a failed install fails the run.
set -euo pipefail
VERSION=v1.8.0
BIN_DIR="$(go env GOPATH)/bin"
TARGET="${VERSITYGW_BIN:-$BIN_DIR/versitygw-$VERSION}"
if [[ -x "$TARGET" ]]; then
	echo "versitygw $VERSION: $TARGET (cached)"
	exit 0
fi
mkdir -p "$(dirname "$TARGET")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "versitygw $VERSION: building (about 2 min on 2 cores the first time)"
if ! GOBIN="$tmp" go install -trimpath -ldflags='-s -w' \
	"github.com/versity/versitygw/cmd/versitygw@$VERSION"; then
	echo "versitygw $VERSION: install failed" >&2
	if [[ "${CI:-}" == "true" ]]; then
		exit 1
	fi
	echo "versitygw $VERSION: the S3 tests will be skipped (they fail under CI=true)" >&2
	exit 0
fi
mv "$tmp/versitygw" "$TARGET"
echo "versitygw $VERSION: installed $TARGET"
