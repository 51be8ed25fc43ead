#!/usr/bin/env bash
# Installs whatever the build and the tests need and is missing; skips what is there.
# Safe to run again. Needs root (or sudo) only for Debian packages (Chromium, Node.js).
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the exact pin of the wasm-bindgen crate in Cargo.toml
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '[setup] %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # No --locked: the crate index here lacks the webpki-roots its lock file names.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if ! command -v wasm-pack >/dev/null; then
  say "installing wasm-pack"
  cargo install wasm-pack --locked
fi

missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# npm tools, pinned by package-lock.json: binaryen 132 (wasm-opt for the release build;
# Debian's 108 emits a broken module), terser (minifies the JS glue) and playwright-core
# (the end-to-end suite).
if ! cmp -s package-lock.json node_modules/.installed-from-lock 2>/dev/null; then
  say "installing the npm tools (binaryen, terser, playwright-core, vite, typescript, supabase-js)"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.installed-from-lock
fi

say "ready: $(wasm-bindgen --version), $(wasm-pack --version), node $(node --version), $(chromium --version 2>/dev/null | head -1)"
