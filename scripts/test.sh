#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the normal build, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, and each libFuzzer target for a short run.
#   LLMUX_FUZZ_SECONDS=N   seconds per fuzz target (default 15; 0 skips fuzzing)
#   LLMUX_SKIP_ASAN=1      skip the sanitizer pass
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${LLMUX_JOBS:-$(nproc)}
"$root/scripts/setup.sh"

# CI (LLMUX_REQUIRE_FIXTURES=1, set by .ci/run) has the recorded provider fixtures in ../shared:
# there a skipped conformance test is a failure, not a pass.
require_all() {
  if [ "${LLMUX_REQUIRE_FIXTURES:-0}" = 1 ] && grep -q "Not Run\|\*\*\*Skipped" "$1"; then
    grep "Not Run\|\*\*\*Skipped" "$1"; echo "tests were skipped; CI requires ../shared/fixtures"; exit 1
  fi
}

echo "== build + tests"
"$root/scripts/build.sh" build
ctest --test-dir build --output-on-failure -j "$jobs" | tee build/ctest.log
require_all build/ctest.log

if [ "${LLMUX_SKIP_ASAN:-0}" != 1 ]; then
  echo "== build + tests under ASan/UBSan"
  "$root/scripts/build.sh" build-asan -DLLMUX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
  LSAN_OPTIONS=suppressions="$root/tests/lsan.supp":print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" | tee build-asan/ctest.log
  require_all build-asan/ctest.log
fi

secs=${LLMUX_FUZZ_SECONDS:-15}
if [ "$secs" != 0 ] && ls fuzz/fuzz_*.c >/dev/null 2>&1; then
  echo "== fuzzing (${secs}s per target)"
  cmake -S "$root" -B build-fuzz -DLLMUX_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_BUILD_TYPE=Debug >/dev/null
  for src in fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    cmake --build build-fuzz -j "$jobs" --target "$name" >/dev/null
    corpus="build-fuzz/corpus-$name"
    mkdir -p "$corpus"
    seeds=()
    [ -d "fuzz/corpus/${name#fuzz_}" ] && seeds=("fuzz/corpus/${name#fuzz_}")
    echo "-- $name"
    "build-fuzz/fuzz/$name" -max_total_time="$secs" -max_len=65536 -print_final_stats=0 "$corpus" "${seeds[@]}" \
      >"build-fuzz/$name.log" 2>&1 || { tail -40 "build-fuzz/$name.log"; echo "fuzz target $name failed"; exit 1; }
    grep -E "^#[0-9]+.*DONE" "build-fuzz/$name.log" | tail -1 || true
  done
fi
echo "== all tests passed"
