# immich-vault — developer entry points. `make test` is what CI (.ci/run)
# runs on a fresh machine; every set-up step the tests need lives in
# test-deps so that nothing has to be installed by hand.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO          ?= go
BIN         ?= bin/immich-vault
FUZZTIME    ?= 60s
TEST_TIMEOUT ?= 25m
BENCHTIME   ?= 1s
# Packages for bench; narrow with `make bench PKG=./chunker/...`.
PKG         ?= ./...

.PHONY: all build test test-deps vet test-race demo fuzz fuzz-list bench lint clean cross test-386 install uninstall

all: build

build:
	$(GO) build -o $(BIN) ./cmd/immich-vault

# install puts the binary in $(BINDIR), man pages generated from the
# commands' help in $(MANDIR)/man1, bash/zsh/fish completions, the systemd
# units in $(SYSTEMDDIR) and the docs in $(DOCDIR). DESTDIR stages a package
# build. The units are not enabled: see docs/NIGHTLY.md.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/immich-vault
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SYSTEMDDIR  ?= /etc/systemd/system
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) $(DESTDIR)$(SYSTEMDDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/immich-vault
	$(BIN) generate --man $(DESTDIR)$(MANDIR)/man1 \
		--bash-completion $(DESTDIR)$(BASHCOMPDIR)/immich-vault \
		--zsh-completion $(DESTDIR)$(ZSHCOMPDIR)/_immich-vault \
		--fish-completion $(DESTDIR)$(FISHCOMPDIR)/immich-vault.fish
	sed 's|/usr/local/bin/immich-vault|$(BINDIR)/immich-vault|g; s|/usr/local/share/doc/immich-vault|$(DOCDIR)|g' \
		docs/systemd/immich-vault.service > $(DESTDIR)$(SYSTEMDDIR)/immich-vault.service
	install -m 0644 docs/systemd/immich-vault.timer $(DESTDIR)$(SYSTEMDDIR)/immich-vault.timer
	install -m 0644 README.md docs/*.md docs/systemd/config.yaml $(DESTDIR)$(DOCDIR)/
	@echo "installed $(BINDIR)/immich-vault; next: immich-vault config init --immich-dir /opt/immich (docs/NIGHTLY.md)"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/immich-vault $(DESTDIR)$(MANDIR)/man1/immich-vault*.1 \
		$(DESTDIR)$(BASHCOMPDIR)/immich-vault $(DESTDIR)$(ZSHCOMPDIR)/_immich-vault $(DESTDIR)$(FISHCOMPDIR)/immich-vault.fish \
		$(DESTDIR)$(SYSTEMDDIR)/immich-vault.service $(DESTDIR)$(SYSTEMDDIR)/immich-vault.timer
	rm -rf $(DESTDIR)$(DOCDIR)

# deb builds dist/immich-vault_VERSION_ARCH.deb for this machine's
# architecture: `make install` staged with Debian's paths (PREFIX=/usr,
# units in /usr/lib/systemd/system), packed by nfpm (packaging/nfpm.yaml),
# itself built from the Go module proxy at the version pinned in
# packaging/go.mod (no other network). The binary is static (CGO_ENABLED=0).
# deb-test installs it with dpkg -i, checks the files and removes it with
# dpkg -r and -P (needs root and dpkg; .ci/run runs it).
VERSION     ?= $(shell sed -n 's/^var version = "\(.*\)"/\1/p' cmd/immich-vault/main.go)
DEB_VERSION ?= $(subst -,~,$(VERSION))
DEB_STAGE   := $(CURDIR)/dist/stage
.PHONY: deb deb-test
deb:
	rm -rf $(DEB_STAGE) && mkdir -p $(DEB_STAGE) dist
	CGO_ENABLED=0 $(MAKE) --no-print-directory install DESTDIR=$(DEB_STAGE) PREFIX=/usr SYSTEMDDIR=/usr/lib/systemd/system \
		ZSHCOMPDIR=/usr/share/zsh/vendor-completions BIN=dist/immich-vault >/dev/null
	cd packaging && VERSION=$(DEB_VERSION) DEB_ARCH=$$($(GO) env GOARCH) \
		$(GO) tool nfpm package --config nfpm.yaml --packager deb --target $(CURDIR)/dist/
	rm -rf $(DEB_STAGE)
	@ls -l dist/*.deb

# image builds the container image immich-vault:VERSION and
# dist/immich-vault-image.tar without a Docker daemon or a registry
# (mmdebstrap + buildah: packaging/image/build.sh, 2-4 minutes); image-test
# runs a backup inside it with podman (packaging/image/test.sh). Both need
# root; .ci/run runs them as a separate step (docs/CONTAINER.md).
.PHONY: image image-test
image:
	bash packaging/image/build.sh

image-test:
	bash packaging/image/test.sh

deb-test: deb
	bash packaging/test-deb.sh dist/immich-vault_$(DEB_VERSION)_$$(dpkg --print-architecture).deb

# test-deps installs what the test suite needs beyond Go: every
# scripts/deps.d/*.sh, in order (PostgreSQL from Debian's packages, the S3
# server through the Go module proxy, ...). Idempotent; see scripts/test-deps.sh.
test-deps:
	@bash scripts/test-deps.sh

vet:
	$(GO) vet ./...

# test runs vet and the whole suite, keeps the full log and ends with a
# summary: packages passed/failed and the name of every failing test.
test: test-deps vet
	@log=$$(mktemp -t immich-vault-test.XXXXXX); \
	status=0; \
	$(GO) test -timeout $(TEST_TIMEOUT) ./... 2>&1 | tee "$$log" || status=$$?; \
	echo; echo "================ test summary ================"; \
	echo "packages ok:     $$(grep -cE '^ok[[:space:]]' "$$log" || true)"; \
	echo "packages failed: $$(grep -cE '^FAIL[[:space:]]+[^[:space:]]' "$$log" || true)"; \
	grep -E '^FAIL[[:space:]]+[^[:space:]]' "$$log" | sed 's/^/  /' || true; \
	grep -E -- '--- FAIL:' "$$log" | sed -E 's/^[[:space:]]*/  /' || true; \
	echo "full log: $$log"; \
	if [ $$status -eq 0 ]; then echo "RESULT: PASS"; else echo "RESULT: FAIL (exit $$status)"; fi; \
	exit $$status

# cross builds and vets the module for every platform users run it on
# (docs/PLATFORMS.md): go build ./... and go vet ./... (which type-checks the
# test code too, the end-to-end tests of cmd/immich-vault included: their
# Unix-only parts are in build-tagged files) for each of CROSS_TARGETS; on
# macOS and Windows the core packages' test binaries are also linked
# (go test -c). Any OS-specific code outside a build-tagged file fails here.
CROSS_TARGETS ?= linux/amd64 linux/arm64 linux/arm linux/386 darwin/amd64 darwin/arm64 freebsd/amd64 windows/amd64
CORE_PKGS     := ./chunker/... ./crypto/... ./pack/... ./index/... ./fs/... ./repo/... ./archiver/... ./restorer/... ./maintenance/...
cross:
	@start=$$(date +%s); out=$$(mktemp -d -t immich-vault-cross.XXXXXX); \
	for t in $(CROSS_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; echo "==> cross $$t"; \
		GOOS=$$os GOARCH=$$arch $(GO) build ./...; \
		GOOS=$$os GOARCH=$$arch $(GO) vet ./...; \
		case $$os in darwin|windows) \
			GOOS=$$os GOARCH=$$arch $(GO) test -c -o "$$out/" $(CORE_PKGS);; \
		esac; \
	done; \
	rm -rf "$$out"; \
	echo "cross: $(words $(CROSS_TARGETS)) targets build and vet in $$(( $$(date +%s) - start )) s"

# test-386 runs the core packages' tests as a 32-bit program (int is 32
# bits: the overflows linux/arm would hit), natively on amd64.
test-386: test-deps
	GOARCH=386 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(CORE_PKGS)

# crash is the long form of the crash harness (the short form runs in
# `make test`): backup, prune and forget --prune each started and SIGKILLed
# at a random moment IV_CRASH_TRIALS times (default 50), check --read-data and
# bit-identical restores after every kill; then a longer corruption campaign.
# Replay a run with IV_CRASH_SEED=<seed printed in the log>. Beside it, the
# signal campaign: backup, restore, copy and prune each sent SIGINT, SIGTERM
# and SIGHUP at a random instant IV_SIGNAL_TRIALS times per signal (default
# 30), no panic/lock/temp file, check --read-data and bit-identical re-runs
# after each (replay with IV_SIGNAL_SEED). Then immich backup with each way to
# quiesce (maintenance mode through the API, immich-admin, docker stop; test
# doubles of Immich and docker) interrupted IV_QUIESCE_TRIALS times per signal
# and way (default 10: 30 per signal), SIGKILL, a panic, a failing dump and a
# full disk: Immich must end up running normally with no quiesce record left.
.PHONY: crash
IV_CRASH_TRIALS ?= 50
IV_SIGNAL_TRIALS ?= 30
IV_QUIESCE_TRIALS ?= 10
crash: build
	IV_CRASH_TRIALS=$(IV_CRASH_TRIALS) $(GO) test -count=1 -timeout 90m -run '^TestCrashHarness$$' -v ./cmd/immich-vault
	IV_SIGNAL_TRIALS=$(IV_SIGNAL_TRIALS) $(GO) test -count=1 -timeout 180m -run '^TestSignalCampaign$$' -v ./cmd/immich-vault
	IV_QUIESCE_TRIALS=$(IV_QUIESCE_TRIALS) $(GO) test -count=1 -timeout 120m -run '^TestImmichQuiesceInterruptions$$' -v ./cmd/immich-vault
	IV_CORRUPTION_TRIALS=10 $(GO) test -count=1 -timeout 30m -run '^TestCorruptionCampaign$$' -v ./repo

test-race:
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

demo:
	bash scripts/demo.sh

FUZZ_LIST = grep -rEo --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git --exclude-dir=bin \
	'^func Fuzz[A-Za-z0-9_]*\(' . | sed -E 's\#^\./\#\#; s\#:func (Fuzz[A-Za-z0-9_]*)\($$\#:\1\#' | sort

# fuzz runs every Fuzz target of the module for FUZZTIME each (a duration
# such as 60s, or an execution count such as 5000x: CI uses a count, see .ci/run). Targets are
# discovered with grep, so new ones are picked up without editing this file.
fuzz:
	@n=0; \
	while IFS=: read -r file target; do \
		dir=$$(dirname "$$file"); \
		echo "==> fuzz $$target in ./$$dir for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$${target}\$$" -fuzztime=$(FUZZTIME) "./$$dir" </dev/null; \
		n=$$((n+1)); \
	done < <($(FUZZ_LIST)); \
	if [ $$n -eq 0 ]; then echo "fuzz: no Fuzz targets found"; exit 1; fi; \
	echo "fuzz: $$n targets ran for $(FUZZTIME) each without failure"

# fuzz-list prints "file:FuzzName" for every fuzz target in the module.
fuzz-list:
	@$(FUZZ_LIST)

# bench runs the macro benchmark suite (bench/cmd/bench): corpora A (photo
# library), B (thumbnails; 50k files and a large run, -b-big), C (daily SQL
# dumps), D (compressible /usr-like mix) and S3 backup/restore through a
# latency- and bandwidth-shaping proxy (20 and 80 ms RTT), backed up by
# immich-vault and every peer on PATH (restic, kopia; borg with BENCH_BORG=1:
# see scripts/bench-deps.sh for building the newest releases outside the
# repository), each figure also as a percentage of the machine's bound, the
# 10 M-blob memory test and the Go micro-benchmarks (-benchtime $(BENCHTIME));
# writes BENCHMARKS.md (generated section only) and BENCHMARKS.json.
# 34 min on 2 cores with BENCH_FLAGS='-b-big 150000 -blobs 1000000'
# (2026-12-06 14:42). Issue 14's 500k thumbnails, every peer on every
# corpus and the 4 GiB S3 file:
#   BENCH_FLAGS='-b-big 500000 -blobs 1000000 -s3-big-file 4GiB'
# (1 h 32 min on 2 cores, 2026-12-07 00:28; 46 min with
# '-b-big-peers restic' and the 1 GiB file on a faster machine). Each corpus's
# disk plan (bench/cmd/bench/diskplan.go) removes the corpus before its
# restores and drops peers (kopia, then restic) that do not fit, saying so
# in the report: at 500k, ~53 GB free before the run for all three tools,
# ~40 GB for immich-vault and restic. '-only A,B' runs a part.
BENCH_FLAGS ?=
bench:
	bash scripts/bench-deps.sh
	BENCH_COMMAND="make bench$(if $(BENCH_FLAGS), BENCH_FLAGS='$(BENCH_FLAGS)')" \
		$(GO) run ./bench/cmd/bench -micro-benchtime=$(BENCHTIME) $(BENCH_FLAGS)

lint:
	@unformatted=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@echo "lint: ok"

clean:
	rm -rf bin
