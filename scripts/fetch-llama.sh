#!/usr/bin/env bash
# Fetches llama.cpp's source from the npm registry (package node-llama-cpp, pinned and checksummed
# in scripts/llama.lock) into .deps/llama.cpp. Idempotent: does nothing when the pinned source is there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/llama.lock"
deps="$root/.deps"
stamp="$deps/llama.cpp/.llmux-source-$NODE_LLAMA_CPP_VERSION"
[ -f "$stamp" ] && exit 0
mkdir -p "$deps/npm"
cd "$deps/npm"
tgz="node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz"
if [ ! -f "$tgz" ]; then
  npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null
fi
echo "$NODE_LLAMA_CPP_SHA256  $tgz" | sha256sum -c --quiet - || {
  echo "fetch-llama: checksum mismatch for $tgz" >&2; rm -f "$tgz"; exit 1; }
rm -rf package && tar xzf "$tgz" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
rm -rf "$deps/llama.cpp"
git clone --quiet package/llama/gitRelease.bundle "$deps/llama.cpp" 2>/dev/null
cp package/llama/llama.cpp.info.json "$deps/llama.cpp/.llmux-info.json"
touch "$stamp"
echo "fetch-llama: llama.cpp $(grep -o '"tag": *"[^"]*"' package/llama/llama.cpp.info.json) in $deps/llama.cpp"
