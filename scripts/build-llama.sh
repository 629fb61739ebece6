#!/usr/bin/env bash
# Builds only llama.cpp's `llama`, `ggml` and `llama-common` libraries, statically, with llama.cpp's
# own CMake, and installs them into .deps/llama. Every llmux build (normal, sanitizer, fuzz) links
# this one install, so llama.cpp is compiled once. `llama-common` (its JSON-schema-to-grammar
# converter and chat templates, used by src/engine/json_grammar.cpp) is built without network
# code: no curl, no OpenSSL, no tools/tests/server. Idempotent: rebuilds only when the source, the
# options below or the list of installed files change (an older install without common rebuilds).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
"$root/scripts/fetch-llama.sh"

# -march=native, but without AMX: these machines advertise AMX in cpuinfo while the kernel does
# not grant the tile state, and ggml's AMX kernels crash (SIGILL/SIGSEGV) on quantized models.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
args=(-DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_OPENSSL=OFF -DLLAMA_SUBPROCESS=OFF -DGGML_NATIVE=ON
  "-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx")
# llama.cpp installs neither common's headers nor the static libraries common needs
# (llama-common-base, cpp-httplib): they are copied into the prefix below, and their presence is
# part of the up-to-date check, so an install from before common was built is rebuilt.
common_libs=(llama-common llama-common-base cpp-httplib)
stamp="$deps/llama/.llmux-built"
want="$(cat "$deps/llama.cpp/.llmux-info.json") ${args[*]} common-libs: ${common_libs[*]}"
installed() {
  for l in "${common_libs[@]}"; do [ -f "$deps/llama/lib/lib$l.a" ] || return 1; done
  [ -f "$deps/llama/include/common/json-schema-to-grammar.h" ] && [ -f "$deps/llama/include/common/chat.h" ]
}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && installed; then exit 0; fi

jobs=${LLMUX_JOBS:-$(nproc)}
rm -rf "$deps/llama-build"
cmake -S "$deps/llama.cpp" -B "$deps/llama-build" "${args[@]}" -DCMAKE_INSTALL_PREFIX="$deps/llama" >/dev/null
echo "build-llama: building llama.cpp's llama, ggml and common libraries (log: .deps/llama-build.log)"
cmake --build "$deps/llama-build" -j "$jobs" --target llama ggml llama-common >"$deps/llama-build.log" 2>&1 || {
  tail -40 "$deps/llama-build.log" >&2; echo "build-llama: llama.cpp build failed" >&2; exit 1; }
cmake --install "$deps/llama-build" >/dev/null
for l in "${common_libs[@]}"; do
  lib=$(find "$deps/llama-build" -name "lib$l.a" -print -quit)
  [ -n "$lib" ] || { echo "build-llama: lib$l.a was not built" >&2; exit 1; }
  install -m 644 "$lib" "$deps/llama/lib/"
done
# common's headers keep their relative layout (chat.h includes jinja/*.h) under include/common.
rm -rf "$deps/llama/include/common"
(cd "$deps/llama.cpp/common" && find . -name '*.h' -o -name '*.hpp') | while read -r h; do
  install -D -m 644 "$deps/llama.cpp/common/$h" "$deps/llama/include/common/$h"
done
printf '%s' "$want" > "$stamp"
