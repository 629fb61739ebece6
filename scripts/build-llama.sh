#!/usr/bin/env bash
# Builds only llama.cpp's `llama` and `ggml` libraries, statically, with llama.cpp's own CMake,
# and installs them into .deps/llama. Every llmux build (normal, sanitizer, fuzz) links this one
# install, so llama.cpp is compiled once. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
"$root/scripts/fetch-llama.sh"
[ -f "$deps/llama/.llmux-built" ] && [ "$deps/llama/.llmux-built" -nt "$deps/llama.cpp/.llmux-info.json" ] && exit 0
jobs=${LLMUX_JOBS:-$(nproc)}
cmake -S "$deps/llama.cpp" -B "$deps/llama-build" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON \
  -DCMAKE_INSTALL_PREFIX="$deps/llama" >/dev/null
cmake --build "$deps/llama-build" -j "$jobs" --target llama ggml
cmake --install "$deps/llama-build" >/dev/null
touch "$deps/llama/.llmux-built"
