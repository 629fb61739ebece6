#!/usr/bin/env bash
# Builds llama.cpp's llama-server once, from the same source (.deps/llama.cpp) and the same
# compiler and ggml flags as scripts/build-llama.sh uses for the library llmux links, into
# .deps/llama-server-build/bin/llama-server. Used by scripts/bench-scheduler.sh to compare the
# local scheduler against llama-server on equal terms. Idempotent: builds only when missing or
# when the source or the options below change.
#   ./scripts/build-llama-server.sh        prints the binary's path on stdout
# Environment: LLMUX_JOBS (default nproc), NICE (default 10).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
[ -d "$deps/llama.cpp" ] || "$root/scripts/fetch-llama.sh" >&2

# Same as build-llama.sh: Release, static, -march=native without AMX (the kernel does not grant
# the tile state here), no OpenSSL. On top: the common library, tools and the server, which
# build-llama.sh turns off. LLAMA_CURL no longer exists in this llama.cpp (deprecated and
# ignored); downloads are off because OpenSSL is off and the web UI is neither built with npm
# nor fetched from the network (the server then serves a placeholder page).
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
args=(-DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON
  "-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx")
out="$deps/llama-server-build"
bin="$out/bin/llama-server"
stamp="$out/.llmux-built"
want="$(cat "$deps/llama.cpp/.llmux-info.json") ${args[*]}"
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then echo "$bin"; exit 0; fi

jobs=${LLMUX_JOBS:-$(nproc)}
cmake -S "$deps/llama.cpp" -B "$out" "${args[@]}" >/dev/null
echo "build-llama-server: building llama-server (log: .deps/llama-server-build.log)" >&2
nice -n "${NICE:-10}" cmake --build "$out" -j "$jobs" --target llama-server >"$deps/llama-server-build.log" 2>&1 || {
  tail -40 "$deps/llama-server-build.log" >&2; echo "build-llama-server: llama-server build failed" >&2; exit 1; }
printf '%s' "$want" > "$stamp"
echo "$bin"
