#!/usr/bin/env bash
# Builds only llama.cpp's `llama` and `ggml` libraries, statically, with llama.cpp's own CMake,
# and installs them into .deps/llama. Every llmux build (normal, sanitizer, fuzz) links this one
# install, so llama.cpp is compiled once. Idempotent: rebuilds only when the source or the
# options below change.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
"$root/scripts/fetch-llama.sh"

# -march=native, but without AMX: these machines advertise AMX in cpuinfo while the kernel does
# not grant the tile state, and ggml's AMX kernels crash (SIGILL/SIGSEGV) on quantized models.
no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
args=(-DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON
  "-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx")
stamp="$deps/llama/.llmux-built"
want="$(cat "$deps/llama.cpp/.llmux-info.json") ${args[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

jobs=${LLMUX_JOBS:-$(nproc)}
rm -rf "$deps/llama-build"
cmake -S "$deps/llama.cpp" -B "$deps/llama-build" "${args[@]}" -DCMAKE_INSTALL_PREFIX="$deps/llama" >/dev/null
echo "build-llama: building llama.cpp's llama and ggml libraries (log: .deps/llama-build.log)"
cmake --build "$deps/llama-build" -j "$jobs" --target llama ggml >"$deps/llama-build.log" 2>&1 || {
  tail -40 "$deps/llama-build.log" >&2; echo "build-llama: llama.cpp build failed" >&2; exit 1; }
cmake --install "$deps/llama-build" >/dev/null
printf '%s' "$want" > "$stamp"
