#!/usr/bin/env bash
# Configures and builds llmux into build/ (or $1 with extra CMake arguments after it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
jobs=${LLMUX_JOBS:-$(nproc)}
cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$root/$dir" -j "$jobs"
