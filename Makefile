# session-keeper: `make test` runs every test; `make size` prints the shipped size.
# Each target installs what it needs first (scripts/setup.sh skips what is there).

export PATH := $(HOME)/.cargo/bin:$(PATH)
CHROMEDRIVER ?= /usr/bin/chromedriver

.PHONY: setup test test-native test-browser build size clean

setup:
	@bash scripts/setup.sh

## Every test: the native core suite (virtual clock) and the browser suites in headless Chromium.
test: setup test-native test-browser

test-native:
	cargo test --lib
	cargo test --doc

test-browser:
	wasm-pack test --headless --chrome --chromedriver $(CHROMEDRIVER)

## The npm/script-tag package in pkg/ (release, wasm-opt -Oz). wasm-opt comes from the
## pinned npm binaryen (132): Debian's binaryen 108 emits a module whose init() throws.
build: setup
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" wasm-pack build --release --target web

## Shipped size, wasm + JS glue, gzip -9 (SPEC budget: 20 KB, target 16 KB).
size: build
	@bash scripts/size.sh

clean:
	cargo clean
	rm -rf pkg
