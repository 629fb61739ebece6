#!/usr/bin/env bash
# Local scheduler benchmark: `llmux serve` against llama-server (built once from the same llama.cpp
# source and flags, scripts/build-llama-server.sh), on the same generated models, through the same
# streaming POST /v1/completions requests from the same client (bench_scheduler_http), interleaved
# in one run. Prints, per model, a side-by-side table with ratios (llmux / llama-server): aggregate
# generation tokens/s and TTFT p50/p99 at each concurrency, the multi-turn chat workload (4x more
# conversations than slots: TTFT of first and returning turns, share of returning turns served from
# a prompt cache) and each server's peak RSS. Figures are medians over RUNS runs. Not a test:
# numbers go to docs/benchmarks.md ("Local scheduler vs llama-server").
#
#   ./scripts/bench-scheduler.sh            after ./scripts/build.sh (uses build/)
#
# Both servers get the same context (CTX cells, one unified KV cache), the same slots (llama-server
# -np), the same threads; everything else is each server's default (llmux: prompt_cache_mb 256;
# llama-server: --cache-ram 8192, flash attention auto, n_batch 2048 / n_ubatch 512).
# Environment: MODELS ("l8 real": the 8-layer shape of bench-engine.sh and a realistic small shape,
# 12 layers, width 768, 32,000-token vocabulary), RUNS (3), LEVELS ("1 4 8 16") concurrent streams,
# SLOTS (8), CTX (4096), THREADS (nproc), PROMPT_BYTES (384) and N_GEN (64) per stream (8 such
# streams fill 3,600 of the 4,096 cells: every running stream fits), CHAT_CONV (4 x SLOTS)
# conversations of CHAT_TURNS (4) turns on CHAT_CLIENTS (SLOTS / 2) clients, CHAT_PROMPT_BYTES (512)
# first turn, CHAT_TURN_BYTES (64) per later user message, CHAT_GEN (32) tokens per answer (a 4th
# turn is ~950 tokens on the byte-level model: 4 at once fit the context);
# BUILD (build), KEEP=1 keeps the work directory (raw lines in results.txt, server logs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
MODELS=${MODELS:-l8 real}
RUNS=${RUNS:-3}
LEVELS=${LEVELS:-1 4 8 16}
SLOTS=${SLOTS:-8}
CTX=${CTX:-4096}
THREADS=${THREADS:-$(nproc)}
PROMPT_BYTES=${PROMPT_BYTES:-384}
N_GEN=${N_GEN:-64}
CHAT_CONV=${CHAT_CONV:-$((4 * SLOTS))}
CHAT_TURNS=${CHAT_TURNS:-4}
CHAT_CLIENTS=${CHAT_CLIENTS:-$((SLOTS / 2))}
CHAT_PROMPT_BYTES=${CHAT_PROMPT_BYTES:-512}
CHAT_TURN_BYTES=${CHAT_TURN_BYTES:-64}
CHAT_GEN=${CHAT_GEN:-32}

[ -f "$BUILD/CMakeCache.txt" ] || { echo "bench-scheduler: $BUILD/ missing: ./scripts/build.sh first" >&2; exit 1; }
cmake --build "$BUILD" --target llmux_cli gguf_gen bench_scheduler_http >/dev/null
bin=$root/$BUILD/bin
llama_server=$("$root/scripts/build-llama-server.sh")

tmp=$(mktemp -d /tmp/llmux-bench-scheduler.XXXXXX)
# llmux serve runs local models in its sandboxed engine child (local.isolation: process, the
# default), which as root becomes user 65534: it must be able to reach the models below $tmp.
chmod 0755 "$tmp"
pids=()
stop_servers() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_servers
    if [ "${KEEP:-0}" = 1 ]; then echo "bench-scheduler: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 10000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo "bench-scheduler: no free port" >&2; exit 1
}

wait_health() { # URL PID NAME
    for _ in $(seq 600); do
        if curl -sf "$1" >/dev/null 2>&1; then return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "bench-scheduler: $3 exited; its log:" >&2; tail -20 "$tmp/$3.log" >&2; exit 1; }
        sleep 0.2
    done
    echo "bench-scheduler: $3 did not become healthy" >&2; exit 1
}

shape_of() {
    case $1 in
    l8) echo "--arch llama --n-layer 8 --n-embd 768 --n-head 12 --n-head-kv 4 --n-ff 2048 --ctx 2048 --type q8_0 --printable" ;;
    real) echo "--arch llama --n-layer 12 --n-embd 768 --n-head 12 --n-head-kv 4 --n-ff 2048 --ctx 2048 --type q8_0 --n-vocab 32000 --printable" ;;
    *) echo "bench-scheduler: unknown model $1 (l8, real)" >&2; exit 1 ;;
    esac
}

results=$tmp/results.txt
: >"$results"
# One measurement: appends "MODEL SERVER KIND KEY=VALUE..." to results.txt.
measure() { # MODEL SERVER URL NAME KIND ARGS...
    local model=$1 server=$2 url=$3 name=$4 kind=$5
    shift 5
    local line
    line=$("$bin/bench_scheduler_http" "$kind" "$url" "$name" "$@") || {
        echo "bench-scheduler: $server failed: $line" >&2; exit 1; }
    echo "$model $server $line" >>"$results"
    echo "  $server: $line" >&2
    # Equal work: the models cannot end a greedy generation early (gguf_gen --printable).
    if [ "$kind" = streams ] && ! grep -q " tokens=$(( $2 * N_GEN )) " <<<"$line"; then
        echo "bench-scheduler: $server generated fewer than $N_GEN tokens per stream" >&2; exit 1
    fi
}

mkdir -p "$tmp/models"
for model in $MODELS; do
    # shellcheck disable=SC2046
    "$bin/gguf_gen" $(shape_of "$model") --seed 1 --out "$tmp/models/$model.gguf" >/dev/null
    cat >"$tmp/llmux.yaml" <<EOF
local:
  model_dirs: [$tmp/models]
  threads: $THREADS
  ctx: $CTX
  slots: $SLOTS
records: none
EOF
    lport=$(free_port)
    "$bin/llmux" serve --config "$tmp/llmux.yaml" --listen "127.0.0.1:$lport" >"$tmp/llmux.log" 2>&1 &
    lpid=$!
    pids+=("$lpid")
    wait_health "http://127.0.0.1:$lport/health" "$lpid" llmux
    sport=$(free_port)
    "$llama_server" -m "$tmp/models/$model.gguf" -c "$CTX" -np "$SLOTS" -kvu -t "$THREADS" -tb "$THREADS" \
        --host 127.0.0.1 --port "$sport" --no-ui >"$tmp/llama-server.log" 2>&1 &
    spid=$!
    pids+=("$spid")
    wait_health "http://127.0.0.1:$sport/health" "$spid" llama-server

    declare -A url=([llmux]="http://127.0.0.1:$lport/v1/completions" [llama]="http://127.0.0.1:$sport/v1/completions")
    declare -A name=([llmux]="local/$model" [llama]="$model")
    echo "bench-scheduler: $model ($(du -h "$tmp/models/$model.gguf" | cut -f1)): llmux pid $lpid, llama-server pid $spid" >&2
    for s in llmux llama; do # load and warm up: one short request each
        "$bin/bench_scheduler_http" streams "${url[$s]}" "${name[$s]}" --streams 1 --max-tokens 4 --tag warm >/dev/null
    done
    for r in $(seq "$RUNS"); do
        # Alternate which server goes first, so a drift in the machine's load favours neither.
        if [ $((r % 2)) = 1 ]; then order="llmux llama"; else order="llama llmux"; fi
        for c in $LEVELS; do
            for s in $order; do
                measure "$model" "$s" "${url[$s]}" "${name[$s]}" streams --streams "$c" \
                    --prompt-bytes "$PROMPT_BYTES" --max-tokens "$N_GEN" --tag "run$r-c$c"
            done
        done
        for s in $order; do
            measure "$model" "$s" "${url[$s]}" "${name[$s]}" chat --conversations "$CHAT_CONV" --clients "$CHAT_CLIENTS" \
                --turns "$CHAT_TURNS" --prompt-bytes "$CHAT_PROMPT_BYTES" --turn-bytes "$CHAT_TURN_BYTES" \
                --max-tokens "$CHAT_GEN" --tag "chat$r"
        done
    done
    for s in llmux llama; do
        if [ "$s" = llmux ]; then p=$lpid; else p=$spid; fi
        echo "$model $s rss peak_rss_mib=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$p/status")" >>"$results"
    done
    stop_servers
done

# The table: medians per (model, server, figure), then llmux / llama-server.
awk -v runs="$RUNS" -v slots="$SLOTS" -v ctx="$CTX" -v threads="$THREADS" -v gen="$N_GEN" \
    -v conv="$CHAT_CONV" -v clients="$CHAT_CLIENTS" -v turns="$CHAT_TURNS" -v levels="$LEVELS" '
function median(key,    n, i, j, t, a) {
    n = cnt[key]
    if (n == 0) return ""
    for (i = 1; i <= n; i++) a[i] = val[key, i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function row(model, label, fig,    a, b) {
    a = median(model SUBSEP "llmux" SUBSEP fig); b = median(model SUBSEP "llama" SUBSEP fig)
    if (a == "" && b == "") return
    printf "%-34s %12s %14s %8s\n", label, a, b, (a != "" && b + 0 > 0) ? sprintf("%.2f", a / b) : "-"
}
{
    model = $1; server = $2; kind = $3; sub_ = ""
    if (!(model in seen)) { seen[model] = 1; order[++n_models] = model }
    for (i = 4; i <= NF; i++) {
        split($i, kv, "=")
        if (kind == "streams" && kv[1] == "c") { sub_ = "c" kv[2] "_"; continue }
        key = model SUBSEP server SUBSEP sub_ kv[1]
        val[key, ++cnt[key]] = kv[2] + 0
    }
}
END {
    for (m = 1; m <= n_models; m++) {
        model = order[m]
        printf "\nmodel %s: %d slots, ctx %d, %d threads, %d tokens per stream; medians of %d runs\n", model, slots, ctx, threads, gen, runs
        printf "%-34s %12s %14s %8s\n", "", "llmux", "llama-server", "ratio"
        split(levels, lv, " ")
        for (i = 1; i in lv; i++) {
            c = lv[i]
            row(model, c " streams: aggregate tok/s", "c" c "_agg_tok_s")
            row(model, c " streams: TTFT p50 ms", "c" c "_ttft_p50_ms")
            row(model, c " streams: TTFT p99 ms", "c" c "_ttft_p99_ms")
        }
        row(model, "prompt tokens per stream", "c" lv[1] "_prompt_tokens")
        row(model, "chat (" conv " conv, " clients " at once): turn 1 TTFT p50", "first_ttft_p50_ms")
        row(model, "chat: returning TTFT p50 ms", "return_ttft_p50_ms")
        row(model, "chat: returning TTFT p99 ms", "return_ttft_p99_ms")
        for (t = 1; t <= turns; t++) row(model, "chat: turn " t " TTFT p50 ms", "turn" t "_ttft_p50_ms")
        row(model, "chat: returning turns from cache %", "return_hit_pct")
        row(model, "chat: returning prompt cached %", "return_cached_pct")
        row(model, "peak RSS MiB", "peak_rss_mib")
    }
}' "$results"
