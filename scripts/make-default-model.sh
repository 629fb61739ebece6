#!/bin/sh
# Rebuilds models/llmux-fortunes.gguf from scratch (tooling; not part of the build or the tests):
#   1. installs the tooling it needs from Debian (fortunes, python3-torch, OpenBLAS),
#   2. writes an F32 llama-shaped GGUF with the byte-level vocabulary (tools/gguf_gen),
#   3. trains the weights with PyTorch on the `fortunes` corpus (scripts/train_default_model.py),
#   4. converts the result to Q8_0 with llama.cpp's quantizer (tools/gguf_quantize).
# Deterministic seeds; about 25 minutes on a 2-core machine. See docs/default-model.md.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-model}
WORK=$BUILD/torch
FORTUNES=${FORTUNES:-/usr/share/games/fortunes}
OUT=${OUT:-$ROOT/models/llmux-fortunes.gguf}
STEPS=${STEPS:-1600}
THREADS=${THREADS:-2}

need=""
for p in fortunes python3-torch python3-numpy python3-yaml libopenblas0-pthread; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
    # OpenBLAS matters: without it Debian's torch falls back to reference BLAS (~30x slower).
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
"$ROOT/scripts/setup.sh"

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target gguf_gen gguf_quantize
mkdir -p "$WORK"

# The plain-text fortune files only: .dat are strfile indexes, .u8 are symlinks to the same
# text, and ascii-art is pictures rather than prose.
FILES=$(find "$FORTUNES" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' ! -name ascii-art | LC_ALL=C sort)

"$BUILD/bin/gguf_gen" --arch llama --type f32 --n-layer 4 --n-embd 256 --n-head 8 --n-head-kv 8 \
    --n-ff 768 --ctx 256 --seed 1 --out "$WORK/init.gguf"

# shellcheck disable=SC2086 # FILES is a list of paths without spaces
/usr/bin/python3 "$ROOT/scripts/train_default_model.py" --init "$WORK/init.gguf" \
    --out "$WORK/llmux-fortunes-f32.gguf" --gguf-py "$ROOT/.deps/llama.cpp/gguf-py" \
    --layers 4 --embd 256 --heads 8 --ff 768 --ctx 256 --batch 8 --steps "$STEPS" \
    --lr 2e-3 --lr-min 1e-4 --warmup 100 --evals 16 --threads "$THREADS" --seed 1 $FILES \
    | tee "$WORK/train.log"

"$BUILD/bin/gguf_quantize" "$WORK/llmux-fortunes-f32.gguf" "$OUT" q8_0 "$THREADS"
echo "wrote $OUT ($(wc -c <"$OUT") bytes)"
