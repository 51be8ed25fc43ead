# session-keeper: `make demo` runs the demo dashboard on the reference backend; `make test`
# runs every test; `make size` prints the shipped size.
# Each target installs what it needs first (scripts/setup.sh skips what is there).

export PATH := $(HOME)/.cargo/bin:$(PATH)
CHROMEDRIVER ?= /usr/bin/chromedriver
PORT ?= 8080

.PHONY: setup demo test test-native test-server test-browser test-e2e build server size clean

setup:
	@bash scripts/setup.sh

## The main job: the demo dashboard, served with the wasm package by the reference backend.
demo: build server
	@echo "session-keeper demo: http://127.0.0.1:$(PORT)/  (sign in as demo@example.com / demo)"
	./target/release/reference-backend --host 127.0.0.1 --port $(PORT) --www www --pkg pkg

## Every test: the native core suite (virtual clock), the reference backend's suite, the
## browser suites in headless Chromium, and the end-to-end suite on the demo dashboard.
test: setup test-native test-server test-browser test-e2e

test-native:
	cargo test --lib
	cargo test --doc

test-server:
	cargo test -p reference-backend

## playwright-core drives Debian's Chromium against the demo on the reference backend.
test-e2e: build server
	node --test --test-concurrency=1 e2e/

test-browser:
	wasm-pack test --headless --chrome --chromedriver $(CHROMEDRIVER)

## The npm/script-tag package in pkg/ (release, wasm-opt -Oz). wasm-opt comes from the
## pinned npm binaryen (132): Debian's binaryen 108 emits a module whose init() throws.
## The glue is then minified with terser (pinned in package-lock.json); exports keep their names.
build: setup
	PATH="$(CURDIR)/node_modules/.bin:$$PATH" wasm-pack build --release --target web
	node_modules/.bin/terser pkg/session_keeper.js --module --compress --mangle --ecma 2020 \
		--output pkg/session_keeper.js

## The reference backend (axum), release build.
server: setup
	cargo build -p reference-backend --release

## Shipped size, wasm + JS glue, gzip -9 (SPEC budget: 20 KB, target 16 KB).
size: build
	@bash scripts/size.sh

clean:
	cargo clean
	rm -rf pkg
