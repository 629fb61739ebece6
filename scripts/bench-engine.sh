#!/usr/bin/env bash
# Engine benchmark: llmux (bench_engine, through the public API) against llama-bench from the
# same llama.cpp source and flags, on the same generated model, in one run; prints both and the
# ratio. Not a test: numbers go to docs/benchmarks.md.
#   ./scripts/bench-engine.sh [gguf_gen shape args...]
# Environment: RUNS (default 5), N_PROMPT (512), N_GEN (128), THREADS (nproc).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
cmake -S "$root" -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target bench_engine gguf_gen >/dev/null
runs=${RUNS:-5}; npp=${N_PROMPT:-512}; ntg=${N_GEN:-128}; threads=${THREADS:-$(nproc)}

# llama-bench, built once with the same flags as the library llmux links (see build-llama.sh).
deps="$root/.deps"
if [ ! -x "$deps/llama-bench-build/bin/llama-bench" ]; then
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake -S "$deps/llama.cpp" -B "$deps/llama-bench-build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON \
    "-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx" >/dev/null
  cmake --build "$deps/llama-bench-build" -j "$(nproc)" --target llama-bench >"$deps/llama-bench-build.log" 2>&1
fi

model=build/bench-model.gguf
shape=("$@")
[ ${#shape[@]} -gt 0 ] || shape=(--arch llama --n-layer 8 --n-embd 768 --n-head 12 --n-head-kv 4 --n-ff 2048 --ctx 2048 --type q8_0)
build/bin/gguf_gen "${shape[@]}" --seed 1 --out "$model" >/dev/null

echo "model: ${shape[*]} ($(du -h "$model" | cut -f1)), prompt $npp, generate $ntg, $runs runs, $threads threads"
ours=$(build/bin/bench_engine "$model" "$npp" "$ntg" "$runs" "$threads")
# llama-bench's tg test starts from an empty context unless given a depth; llmux generates after
# the prompt, so tg is measured at depth n_prompt on both sides.
lb_csv() { "$deps/llama-bench-build/bin/llama-bench" -m "$model" -r "$runs" -t "$threads" -o csv "$@" 2>/dev/null; }
avg_ts() { awk -F, 'NR==1 {for(i=1;i<=NF;i++) {gsub(/"/,"",$i); h[$i]=i}} NR>1 {gsub(/"/,""); print $h["avg_ts"]}'; }
get() { echo "$ours" | awk -v k="$1" '$1==k {print $2}'; }
lb_pp=$(lb_csv -p "$npp" -n 0 | avg_ts)
lb_tg=$(lb_csv -p 0 -n "$ntg" -d "$npp" | avg_ts)
printf '%-22s %12s %12s %8s\n' "" "llmux" "llama-bench" "ratio"
printf '%-22s %12.1f %12.1f %8.2f\n' "prompt tok/s (pp$npp)" "$(get pp_tok_s)" "$lb_pp" "$(awk -v a="$(get pp_tok_s)" -v b="$lb_pp" 'BEGIN {print a / b}')"
printf '%-22s %12.1f %12.1f %8.2f\n' "generate tok/s (tg$ntg@$npp)" "$(get tg_tok_s)" "$lb_tg" "$(awk -v a="$(get tg_tok_s)" -v b="$lb_tg" 'BEGIN {print a / b}')"
printf '%-22s %12.1f %12s\n' "time to first token ms" "$(get ttft_ms)" "-"
