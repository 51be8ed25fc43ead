#!/usr/bin/env bash
# Builds the npm / script-tag package into pkg/: wasm-pack (release, web target, wasm-opt
# -Oz), then the three steps wasm-pack cannot do itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# wasm-opt from the pinned npm binaryen (132): Debian's binaryen 108 emits a module whose
# init() throws (externref table mislabelled).
PATH="$PWD/node_modules/.bin:$PATH" wasm-pack build --release --target web

glue=pkg/session_keeper.js
types=pkg/session_keeper.d.ts

# 1. SessionError lives in a JS snippet (it must extend Error) and wasm-bindgen cannot
#    re-export a snippet's class, so the package exports it here. Its declaration is in
#    js/api.d.ts.
error_module=$(cd pkg && ls snippets/*/js/runtime.js)
printf "export { SessionError } from './%s';\n" "$error_module" >> "$glue"

# 2. Minify the glue and the snippets (the bridges, installGlobal, SessionError); exported
#    names are kept.
for js in "$glue" pkg/snippets/*/js/*.js; do
  node_modules/.bin/terser "$js" --module --compress --mangle --ecma 2020 --output "$js"
done

# 3. wasm-bindgen types the raw wasm exports in InitOutput as `any`; nothing should call
#    them, and the public API has no `any` (checked by make test-types).
sed -i -E '/^export interface InitOutput/,/^}/ s/\bany\b/unknown/g' "$types"

echo "[package] pkg/: $(node -p "const p=require('./pkg/package.json'); p.name+'@'+p.version+' ('+p.files.join(', ')+')'")"
