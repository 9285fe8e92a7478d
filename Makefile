# Tandem: `make run` builds and opens the window, `make test` runs every test.
# The binary links Fyne (cgo + OpenGL), so Linux needs gcc and the GL/X11
# headers: `make deps` installs them on Debian/Ubuntu.

GO        ?= go
TAGS      := migrated_fynedo
BIN       := bin/tandem
CLI       := bin/tandem-cli
FYNE_TOOL := fyne.io/tools/cmd/fyne@v1.7.4
# A count, not a duration: a duration -fuzztime can fail with "context
# deadline exceeded" and no crasher (Go's fuzz coordinator, golang/go#75804,
# fixed in Go 1.27). 20000 inputs take 1-3 s per target here.
FUZZTIME  ?= 20000x

BUILD_PKGS := gcc pkg-config libgl1-mesa-dev xorg-dev
TEST_PKGS  := radicale gnome-keyring dbus-x11 xvfb

# Run apt-get as root, or through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps test-deps build app run test test-vendored fuzz bench bench-carddav package screenshot fmt vet clean

all: build

# apt-install what is missing (a no-op when everything is there).
define apt_ensure
	@missing=""; \
	for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	else \
		echo "not a Debian/Ubuntu system; please install the equivalents of:$$missing"; \
	fi
endef

deps:
	@if command -v dpkg >/dev/null 2>&1; then :; else \
		echo "not a Debian/Ubuntu system: Tandem needs a C compiler, pkg-config and the OpenGL/X11 development headers (see fyne.io/fyne/v2 prerequisites)"; exit 0; fi
	$(call apt_ensure,$(BUILD_PKGS))

test-deps: deps
	@command -v dpkg >/dev/null 2>&1 || exit 0
	$(call apt_ensure,$(TEST_PKGS))

# bin/tandem: the app (window + command line). bin/tandem-cli: the command
# line alone, without cgo, for servers without GL/X libraries and for cron.
build: app
	CGO_ENABLED=0 $(GO) build -tags nogui -o $(CLI) ./cmd/tandem

app:
	$(GO) build -tags $(TAGS) -o $(BIN) ./cmd/tandem

run: deps app
	./$(BIN)

# Every test, with a real Secret Service (gnome-keyring on a private session
# bus), then each fuzz target for $(FUZZTIME).
test: test-deps
	dbus-run-session -- sh -c 'echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; TANDEM_REAL_KEYRING=1 $(GO) test -tags $(TAGS) ./...'
	cd models/internal/inflection && $(GO) test ./...  # its own module (a replace in go.mod)
	cd models/internal/memory && $(GO) test -run '$(MEMORY_QUICK)' ./...  # likewise; the quick tests
	$(GO) test -race -tags $(TAGS) $(RACE_PKGS)
	@$(MAKE) --no-print-directory fuzz

# Packages that run work on several goroutines (pipelined batches,
# overlapping rounds, parallel planning and conversion, pair locks): their
# tests run again under the race detector.
RACE_PKGS = ./sync/engine ./sync/connector/vcarddir ./sync/transform ./sync/runner ./models

# The copied allocator's tests, upstream's randomised ones included (about
# two minutes here; CI runs them).
MEMORY_QUICK = ^(TestU?Free|TestU?Malloc|TestFreedPage.*|TestBigRegion.*|TestKeptBytes.*|TestCloseUnmaps.*|TestFreshRegions.*|TestArenaBlocks.*)$$
test-vendored:
	cd models/internal/memory && $(GO) test ./...

fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' .); do \
		dir=$$(dirname $$f | sed 's|^\./||'); \
		for t in $$(grep -oE '^func Fuzz[A-Za-z0-9_]+' $$f | sed 's/^func //'); do \
			echo "fuzz $$t in ./$$dir ($(FUZZTIME))"; \
			$(GO) test -tags $(TAGS) -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./$$dir; \
		done; \
	done

# The vdirsyncer comparison runs first, before the Go benchmarks create and
# delete their files: on a journal-less ext4 (this VM's), file creation is
# several times slower for up to 360 s after many files were deleted (ext4
# skips inodes freed in the last 60 s, 360 s while their inode block is
# dirty), and each comparison deletes its 40,000 files at its end, hence the
# pause between the two (BENCH_PAUSE=0 skips it). Both programs pay, but not
# alike, and the ratio is not what a user would see.
BENCH_PAUSE ?= 400

bench: build
	$(call apt_ensure,vdirsyncer)
	@if [ -x ../shared/bench/vs-vdirsyncer.sh ] || [ -f ../shared/bench/vs-vdirsyncer.sh ]; then \
		bash ../shared/bench/vs-vdirsyncer.sh ./$(CLI) 10000 && \
		echo "pausing $(BENCH_PAUSE) s (see the Makefile)" && sync && sleep $(BENCH_PAUSE) && \
		bash ../shared/bench/vs-vdirsyncer.sh ./$(BIN) 10000; \
	else echo "../shared/bench/vs-vdirsyncer.sh not found; skipping the vdirsyncer comparison"; fi
	$(GO) test -tags $(TAGS) -run='^$$' -bench=. -benchmem ./models/... ./sync/... ./ui/...
	@$(MAKE) --no-print-directory bench-carddav

# vdirsyncer and tandem syncing 2,000 cards into one local Radicale.
bench-carddav: build
	$(call apt_ensure,vdirsyncer radicale gnome-keyring dbus-x11 curl)
	bash sync/connector/carddav/bench/vs-vdirsyncer.sh ./$(CLI) 2000

# A desktop package for this OS (Tandem.tar.xz on Linux, Tandem.app on
# macOS, Tandem.exe on Windows) from bin/tandem and FyneApp.toml, by the
# pinned fyne tool fetched through the Go module proxy.
package: deps build
	@# The fyne tool rewrites FyneApp.toml (it bumps the build number):
	@# package from a copy (FyneApp.toml, assets/ with its Go file, the binary).
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	mkdir -p bin; cp -r FyneApp.toml assets "$$d/"; cp $(BIN) "$$d/tandem"; \
	(cd "$$d" && $(GO) run $(FYNE_TOOL) package --exe ./tandem --name Tandem --icon assets/icon.png --release); \
	mv "$$d"/Tandem.* bin/; ls -1 bin/Tandem.*

screenshot: build
	./ui/screenshot.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet -tags $(TAGS) ./...

clean:
	rm -rf bin tmp
