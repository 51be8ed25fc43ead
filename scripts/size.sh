#!/usr/bin/env bash
# Prints the shipped size of pkg/ (run `make build` first): raw and gzip -9 bytes of the
# wasm and the JS glue, and their sum against the SPEC budget. `--max N`: exits 1 when the
# total is over N bytes (the bar CI holds, `make size-check`).
set -euo pipefail
cd "$(dirname "$0")/.."
gz() { gzip -9 -c "$1" | wc -c; }
wasm=pkg/session_keeper_bg.wasm
glue=pkg/session_keeper.js
snippets=$(find pkg/snippets -name '*.js' -print0 2>/dev/null | xargs -0 cat 2>/dev/null | gzip -9 -c | wc -c)
total=$(( $(gz $wasm) + $(gz $glue) + snippets ))
printf '%-28s %8s %8s\n' file raw gzip-9
printf '%-28s %8d %8d\n' "$wasm" "$(wc -c < $wasm)" "$(gz $wasm)"
printf '%-28s %8d %8d\n' "$glue" "$(wc -c < $glue)" "$(gz $glue)"
printf '%-28s %8s %8d\n' "pkg/snippets/*.js" "" "$snippets"
awk -v t="$total" 'BEGIN { printf "total gzip-9: %d bytes = %.1f KB (%.2fx the 20 KB budget, %.2fx the 16 KB target)\n", t, t/1024, t/20480, t/16384 }'
if [ "${1:-}" = "--max" ]; then
  if [ "$total" -gt "$2" ]; then
    echo "size check: $total B is over the bar of $2 B (docs/size.md)" >&2
    exit 1
  fi
  echo "size check: $total B is within the bar of $2 B"
fi
