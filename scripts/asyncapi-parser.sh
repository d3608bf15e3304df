#!/usr/bin/env bash
# Installs the official AsyncAPI parser (npm @asyncapi/parser) into a cache
# directory with the machine's node and npm, once, and prints that directory.
set -euo pipefail
version=3.6.6
dir=${RABIBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rabibridge}/asyncapi-parser-$version
if [ ! -f "$dir/node_modules/@asyncapi/parser/package.json" ]; then
  command -v npm >/dev/null || { echo "asyncapi-parser: npm is not installed: the AsyncAPI parser test will skip (install node and npm: Debian's npm package)" >&2; exit 3; }
  echo "asyncapi-parser: installing @asyncapi/parser@$version with npm into $dir (once)" >&2
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"name":"rabibridge-asyncapi-check","private":true}' > "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "@asyncapi/parser@$version" >&2)
fi
echo "$dir"
