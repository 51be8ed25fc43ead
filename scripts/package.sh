#!/usr/bin/env bash
# Builds the npm / script-tag package into pkg/: wasm-pack (release, web target, wasm-opt
# -Oz), then the three steps wasm-pack cannot do itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# wasm-opt from the pinned npm binaryen (132): Debian's binaryen 108 emits a module whose
# init() throws (externref table mislabelled).
# From scratch: wasm-pack does not clean pkg/snippets, and a stale snippet would ship.
rm -rf pkg
PATH="$PWD/node_modules/.bin:$PATH" wasm-pack build --release --target web

glue=pkg/session_keeper.js
types=pkg/session_keeper.d.ts

# 1. The JS API lives in the browser layer's module (js/runtime.js): the SessionManager
#    class, SessionError (it must extend Error), installGlobal and the adapters. wasm-bindgen
#    cannot re-export a snippet's names, so the package exports them here. Their
#    declarations are in js/api.d.ts.
runtime=$(cd pkg && ls snippets/*/js/runtime.js)
printf "export { SessionManager, SessionError, installGlobal, clerkTokenProvider, supabaseTokenProvider } from './%s';\n" "$runtime" >> "$glue"

# 2. wasm-bindgen also exports the module's start function (it runs at init() and hands the
#    browser layer its door into the core); it is not part of the API.
grep -q '^export function start() {' "$glue" && grep -q '^export function start(): void;$' "$types" \
  || { echo "[package] wasm-bindgen's start export changed shape; update scripts/package.sh" >&2; exit 1; }
sed -i 's/^export function start() {/function start() {/' "$glue"
sed -i '/^export function start(): void;$/d' "$types"

# 3. Shorten wasm-bindgen's import and export names in the wasm, the glue and the types
#    (it checks everything it touches and fails loudly; see the script).
node scripts/minify-names.mjs pkg

# 4. Minify the glue and the snippets (the bridges, installGlobal, SessionError); exported
#    names are kept.
for js in "$glue" pkg/snippets/*/js/*.js; do
  node_modules/.bin/terser "$js" --module --compress passes=3 --mangle --ecma 2020 --output "$js"
done

# 5. wasm-bindgen types the raw wasm exports in InitOutput as `any`; nothing should call
#    them, and the public API has no `any` (checked by make test-types).
sed -i -E '/^export interface InitOutput/,/^}/ s/\bany\b/unknown/g' "$types"

echo "[package] pkg/: $(node -p "const p=require('./pkg/package.json'); p.name+'@'+p.version+' ('+p.files.join(', ')+')'")"
