#!/usr/bin/env bash
# The latency, throughput and memory `llmux serve` adds in front of an OpenAI-compatible upstream,
# next to nginx (proxy_pass) and the Portkey gateway, in one run (docs/benchmarks.md, "Gateway").
#
#   bench/gateway/run.sh [BUILD_DIR]        (default build/, after ./scripts/build.sh)
#
# Every path sends the same requests from the same client (bench_gateway_load, libcurl, keep-alive)
# to the same fake upstream (bench_gateway_upstream, libevent) on loopback:
#   direct   client → upstream
#   nginx    client → nginx (nginx-light, proxy_pass, upstream keepalive, proxy_buffering off) → upstream
#   portkey  client → @portkey-ai/gateway (node, provider openai with x-portkey-custom-host) → upstream
#   llmux    client → llmux serve (provider "up" in llmux.yaml, records to SQLite as by default) → upstream
#   llmux-norec  the same without execution records
#   base, base-norec  the same two from another build (BASE_BUILD), measured in the same rounds:
#                the before/after of a change, interleaved on one machine
# Installs what is missing: nginx-light (apt-get) and Portkey (npm ci into bench/gateway/node_modules,
# versions pinned by bench/gateway/package-lock.json). Not part of the test suite.
#
# Environment: RUNS (5) rounds, each measuring every path in turn; N_LAT (1000) sequential requests
# per latency figure (N_LAT_PORTKEY, 200: Portkey waits 25 ms before its first streamed event);
# SECONDS_TPUT (2) per throughput figure, CONNS (32) connections; CHUNKS (16) content chunks per
# streamed answer; HOLD ("1000 10000") idle-stream counts for the memory figure; PATHS to restrict;
# NGINX_WORKERS (1, as llmux serves from one loop thread); BASE_BUILD: another build directory whose
# bin/llmux serves the base and base-norec paths (added to the default PATHS when set).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
bin=$build/bin
RUNS=${RUNS:-5}
N_LAT=${N_LAT:-1000}
N_LAT_PORTKEY=${N_LAT_PORTKEY:-200}
SECONDS_TPUT=${SECONDS_TPUT:-2}
CONNS=${CONNS:-32}
CHUNKS=${CHUNKS:-16}
HOLD=${HOLD-1000 10000}
BASE_BUILD=${BASE_BUILD:-}
PATHS=${PATHS:-direct nginx portkey llmux llmux-norec${BASE_BUILD:+ base base-norec}}
NGINX_WORKERS=${NGINX_WORKERS:-1}

for b in bench_gateway_upstream bench_gateway_load llmux; do
    [ -x "$bin/$b" ] || { echo "run.sh: $bin/$b missing: ./scripts/build.sh first" >&2; exit 1; }
done
[ -z "$BASE_BUILD" ] || [ -x "$BASE_BUILD/bin/llmux" ] || { echo "run.sh: $BASE_BUILD/bin/llmux missing" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
want() { case " $PATHS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if want nginx && [ ! -x "$NGINX" ]; then
    echo "run.sh: installing nginx-light" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q nginx-light >/dev/null ||
        { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q nginx-light >/dev/null; }
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
PORTKEY_JS=$here/node_modules/@portkey-ai/gateway/build/start-server.js
if want portkey && [ ! -f "$PORTKEY_JS" ]; then
    echo "run.sh: installing Portkey (npm ci in bench/gateway)" >&2
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Each idle stream holds a client socket and an upstream socket in llmux: raise the soft limit to
# the hard one (raising the hard limit needs CAP_SYS_RESOURCE).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

tmp=$(mktemp -d /tmp/llmux-bench-gateway.XXXXXX)
chmod 755 "$tmp" # nginx workers run as nobody when started by root
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# A port nothing listens on (bash's /dev/tcp connect fails).
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 10000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo "run.sh: no free port" >&2; exit 1
}

# Waits until something listens on 127.0.0.1:PORT (bash's /dev/tcp: no curl or nc needed).
wait_up() {
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "run.sh: $2 did not come up (port $1)" >&2; exit 1
}

# ---------------------------------------------------------------- the upstream and the gateways
"$bin/bench_gateway_upstream" --port 0 --chunks "$CHUNKS" >"$tmp/upstream.out" &
pids+=($!)
for _ in $(seq 50); do grep -q '^port ' "$tmp/upstream.out" 2>/dev/null && break; sleep 0.1; done
UP=$(awk '/^port /{print $2}' "$tmp/upstream.out")
wait_up "$UP" upstream

declare -A URL MODEL HDR GWPID # GWPID: the gateway's process (its children count too)
URL[direct]=http://127.0.0.1:$UP/v1/chat/completions
MODEL[direct]=gpt-bench

if want nginx; then
    NP=$(free_port)
    mkdir -p "$tmp/nginx"
    cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes $NGINX_WORKERS;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 8192; }
http {
    access_log $tmp/nginx/access.log;   # nginx's default: one line per request
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    upstream bench_up { server 127.0.0.1:$UP; keepalive 64; }
    server {
        listen 127.0.0.1:$NP;
        location / {
            proxy_pass http://bench_up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;        # SSE events pass as they come
        }
    }
}
EOF
    "$NGINX" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" &
    pids+=($!)
    GWPID[nginx]=$!
    wait_up "$NP" nginx
    URL[nginx]=http://127.0.0.1:$NP/v1/chat/completions
    MODEL[nginx]=gpt-bench
fi

if want portkey; then
    PP=$(free_port)
    (cd "$here" && NODE_ENV=production exec node "$PORTKEY_JS" --port="$PP" --headless) >"$tmp/portkey.log" 2>&1 &
    pids+=($!)
    GWPID[portkey]=$!
    wait_up "$PP" portkey
    URL[portkey]=http://127.0.0.1:$PP/v1/chat/completions
    MODEL[portkey]=gpt-bench
    HDR[portkey]="x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:$UP/v1"
fi

# Starts `llmux serve` ($LLMUX_BIN, default this build's) with llmux.yaml text $2 and extra flags;
# sets LLMUX_PORT and LLMUX_PID.
start_llmux() {
    local name=$1 cfg=$2
    shift 2
    mkdir -p "$tmp/$name"
    printf '%s\n' "$cfg" >"$tmp/$name/llmux.yaml"
    HOME=$tmp/$name LLMUX_CONFIG= "${LLMUX_BIN:-$bin/llmux}" serve --listen 127.0.0.1:0 --config "$tmp/$name/llmux.yaml" "$@" \
        >"$tmp/$name/out" 2>"$tmp/$name/err" &
    LLMUX_PID=$!
    pids+=($LLMUX_PID)
    for _ in $(seq 100); do grep -q 'serving on' "$tmp/$name/out" 2>/dev/null && break; sleep 0.1; done
    LLMUX_PORT=$(sed -n 's|.*serving on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/$name/out")
    [ -n "$LLMUX_PORT" ] || { echo "run.sh: llmux serve did not start:" >&2; cat "$tmp/$name/err" >&2; exit 1; }
}
PROVIDER="providers:
  up: {protocol: openai, base_url: \"http://127.0.0.1:$UP/v1\", api_key: none}"
if want llmux; then
    start_llmux llmux "$PROVIDER
records: \"sqlite:$tmp/llmux/records.db\""
    URL[llmux]=http://127.0.0.1:$LLMUX_PORT/v1/chat/completions
    MODEL[llmux]=up/gpt-bench
    GWPID[llmux]=$LLMUX_PID
fi
if want llmux-norec; then
    start_llmux llmux-norec "$PROVIDER
records: none"
    # The default database would be under HOME ($tmp/llmux-norec), opened at start.
    ! find "$tmp/llmux-norec" -name 'records.db*' | grep -q . || { echo "run.sh: llmux-norec still records" >&2; exit 1; }
    URL[llmux-norec]=http://127.0.0.1:$LLMUX_PORT/v1/chat/completions
    MODEL[llmux-norec]=up/gpt-bench
    GWPID[llmux-norec]=$LLMUX_PID
fi
for p in base base-norec; do
    want $p && [ -n "$BASE_BUILD" ] || continue
    rec="records: \"sqlite:$tmp/$p/records.db\""
    [ $p = base-norec ] && rec="records: none"
    LLMUX_BIN=$BASE_BUILD/bin/llmux start_llmux $p "$PROVIDER
$rec"
    URL[$p]=http://127.0.0.1:$LLMUX_PORT/v1/chat/completions
    MODEL[$p]=up/gpt-bench
    GWPID[$p]=$LLMUX_PID
done

# ---------------------------------------------------------------- latency and throughput
load() { # mode path [flags...]: runs the client with the path's URL, model and headers
    local mode=$1 path=$2
    shift 2
    local args=("$mode" "${URL[$path]}" "${MODEL[$path]}" "$@")
    if [ -n "${HDR[$path]:-}" ]; then
        local IFS='|'
        for h in ${HDR[$path]}; do args+=(--header "$h"); done
    fi
    "$bin/bench_gateway_load" "${args[@]}"
}
field() { sed -n "s/.* $1=\([^ ]*\)\( .*\)\{0,1\}\$/\1/p"; }

# CPU time (user + system, clock ticks) of a process and its children (nginx's workers): less
# sensitive to the other load on the machine than the wall-clock rates.
HZ=$(getconf CLK_TCK)
children() { # the processes whose parent is $1, from /proc (procps may be missing)
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '{ pid = $1; sub(/.*\) /, ""); if ($2 == p) print pid }'
}
cpu_ticks() {
    [ -n "${1:-}" ] || { echo 0; return; }
    local t=0 p v
    for p in "$1" $(children "$1"); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
cpu_us() { # ticks_before ticks_after requests → µs of gateway CPU per request
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$HZ" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) * 1e6 / hz / n : 0) }'
}

results=$tmp/results
: >"$results"
echo "bench/gateway: $(nproc) cores, $(uname -r), nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), node $(node --version 2>/dev/null || echo -), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "RUNS=$RUNS N_LAT=$N_LAT N_LAT_PORTKEY=$N_LAT_PORTKEY SECONDS_TPUT=$SECONDS_TPUT CONNS=$CONNS CHUNKS=$CHUNKS NGINX_WORKERS=$NGINX_WORKERS"
for run in $(seq "$RUNS"); do
    for path in $PATHS; do
        [ -n "${URL[$path]:-}" ] || continue
        n=$N_LAT w=100
        [ "$path" = portkey ] && n=$N_LAT_PORTKEY w=20
        a=$(load latency "$path" --n "$n" --warmup "$w")
        b=$(load latency "$path" --stream --n "$n" --warmup "$w")
        t0=$(cpu_ticks "${GWPID[$path]:-}")
        c=$(load throughput "$path" --conns "$CONNS" --seconds "$SECONDS_TPUT")
        t1=$(cpu_ticks "${GWPID[$path]:-}")
        d=$(load throughput "$path" --stream --conns "$CONNS" --seconds "$SECONDS_TPUT")
        t2=$(cpu_ticks "${GWPID[$path]:-}")
        cpu=$(cpu_us "$t0" "$t1" "$(echo "$c" | field total)")
        s_cpu=$(cpu_us "$t1" "$t2" "$(echo "$d" | field total)")
        [ -n "${GWPID[$path]:-}" ] || cpu=- s_cpu=-
        errs=$(($(echo "$a" | field errors) + $(echo "$b" | field errors) + $(echo "$c" | field errors) + $(echo "$d" | field errors)))
        {
            echo "$path p50 $(echo "$a" | field p50_ms)"
            echo "$path p99 $(echo "$a" | field p99_ms)"
            echo "$path s_p50 $(echo "$b" | field p50_ms)"
            echo "$path s_p99 $(echo "$b" | field p99_ms)"
            echo "$path ttfb_p50 $(echo "$b" | field ttfb_p50_ms)"
            echo "$path rps $(echo "$c" | field rps)"
            echo "$path s_rps $(echo "$d" | field rps)"
            echo "$path cpu $cpu"
            echo "$path s_cpu $s_cpu"
            echo "$path errors $errs"
        } >>"$results"
        printf 'run %d %-12s p50 %7s ms  stream p50 %7s ms (ttfb %7s)  %8s req/s  stream %8s req/s  cpu %6s/%6s us  errors %d\n' \
            "$run" "$path" "$(echo "$a" | field p50_ms)" "$(echo "$b" | field p50_ms)" "$(echo "$b" | field ttfb_p50_ms)" \
            "$(echo "$c" | field rps)" "$(echo "$d" | field rps)" "$cpu" "$s_cpu" "$errs"
    done
done

med() { # path metric → median over the runs
    awk -v p="$1" -v m="$2" '$1 == p && $2 == m { print $3 }' "$results" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
sum() { awk -v p="$1" -v m="$2" '$1 == p && $2 == m { s += $3 } END { print s + 0 }' "$results"; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }

echo
echo "medians over $RUNS runs (ms; req/s; cpu: the gateway's CPU µs per request at $CONNS connections); added = the path's p50 minus direct's; s_ = streamed"
printf '%-12s %9s %9s %9s %9s %9s %9s %9s %9s %9s %7s %7s %7s\n' path p50 p99 added s_p50 s_p99 s_ttfb s_added req/s s_req/s cpu s_cpu errors
for path in $PATHS; do
    [ -n "${URL[$path]:-}" ] || continue
    printf '%-12s %9s %9s %9s %9s %9s %9s %9s %9s %9s %7s %7s %7s\n' "$path" "$(med "$path" p50)" "$(med "$path" p99)" \
        "$(calc "$(med "$path" p50) - $(med direct p50)")" "$(med "$path" s_p50)" "$(med "$path" s_p99)" \
        "$(med "$path" ttfb_p50)" "$(calc "$(med "$path" s_p50) - $(med direct s_p50)")" \
        "$(med "$path" rps)" "$(med "$path" s_rps)" "$(med "$path" cpu)" "$(med "$path" s_cpu)" "$(sum "$path" errors)"
done

verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo MISSED; fi; }
if [ -n "${URL[llmux]:-}" ] && [ -n "${URL[nginx]:-}" ]; then
    echo
    for s in "" s_; do
        kind=non-streaming
        [ -n "$s" ] && kind=streaming
        la=$(calc "$(med llmux ${s}p50) - $(med direct ${s}p50)" 4)
        na=$(calc "$(med nginx ${s}p50) - $(med direct ${s}p50)" 4)
        echo "$kind: added p50 llmux $la ms, nginx $na ms: llmux/nginx $(calc "$la / ($na > 0 ? $na : 1e-9)" 2) (goal <= 2: $(verdict "$la <= 2 * $na"))"
        lr=$(med llmux ${s}rps) nr=$(med nginx ${s}rps)
        line="$kind: throughput llmux/nginx $(calc "$lr / $nr" 2) (goal >= 0.5: $(verdict "$lr >= 0.5 * $nr"))"
        if [ -n "${URL[portkey]:-}" ]; then
            pr=$(med portkey ${s}rps)
            line="$line, llmux/portkey $(calc "$lr / $pr" 1) (goal >= 20: $(verdict "$lr >= 20 * $pr"))"
        fi
        echo "$line"
        echo "$kind: gateway CPU per request llmux $(med llmux ${s}cpu) us, nginx $(med nginx ${s}cpu) us$([ -n "${URL[portkey]:-}" ] && echo ", portkey $(med portkey ${s}cpu) us")"
    done
fi

# ---------------------------------------------------------------- memory per idle stream
if want llmux && [ -n "$HOLD" ]; then
    echo
    echo "memory per idle stream in llmux serve (open-file limit $NOFILE; llmux holds 2 sockets per stream)"
    for n in $HOLD; do
        reach=$(((NOFILE - 64) / 2))
        note=""
        if [ "$n" -gt "$reach" ]; then
            note=" (asked $n: the open-file limit $NOFILE allows $reach, 2 per stream + the server's own)"
            n=$reach
        fi
        # Opening ~10,000 streams takes this machine about a minute: the first ones must not
        # reach the upstream idle timeout (timeouts.idle_ms, 60 s by default) meanwhile.
        start_llmux "hold-$n" "$PROVIDER
timeouts: {idle_ms: 600000}
records: \"sqlite:$tmp/hold-$n.db\"" --max-requests "$n"
        URL[hold]=http://127.0.0.1:$LLMUX_PORT/v1/chat/completions
        MODEL[hold]=up/bench-hold
        MODEL[warm]=up/gpt-bench URL[warm]=${URL[hold]}
        load latency warm --stream --n 50 --warmup 0 >/dev/null # lazy set-up (SQLite, first connections)
        out=$(load hold hold --stream --n "$n" --pid "$LLMUX_PID" --timeout 240)
        echo "$out$note"
        kill "$LLMUX_PID"
        wait "$LLMUX_PID" 2>/dev/null || true
    done
fi
