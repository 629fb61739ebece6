#!/bin/sh
# Rebuilds models/llmux-fortunes.gguf from scratch: builds the tools, gathers the corpus from the
# Debian package `fortunes`, writes a random-init model with gguf_gen, trains it with
# train_fortunes (llama.cpp's training API, 2 threads) and converts the result to Q8_0.
# Deterministic seeds; expect ~25-35 minutes on a 2-core machine. See docs/default-model.md.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-model}
WORK=$BUILD/work
FORTUNES=${FORTUNES:-/usr/share/games/fortunes}
OUT=${OUT:-$ROOT/models/llmux-fortunes.gguf}
STEPS=${STEPS:-11000}
THREADS=${THREADS:-2}

if [ ! -f "$FORTUNES/fortunes" ]; then
    echo "make-default-model: $FORTUNES/fortunes missing (apt-get install fortunes)" >&2
    exit 1
fi

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target gguf_gen train_fortunes
mkdir -p "$WORK"

# The plain-text fortune files only: .dat are strfile indexes, .u8 are symlinks to the same
# text, and ascii-art is pictures rather than prose.
FILES=$(find "$FORTUNES" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' ! -name ascii-art | LC_ALL=C sort)

"$BUILD/bin/gguf_gen" --arch llama --type f32 --n-layer 4 --n-embd 192 --n-head 4 \
    --n-ff 512 --ctx 256 --seed 1 --out "$WORK/init.gguf"

# shellcheck disable=SC2086 # FILES is a list of paths without spaces
"$BUILD/bin/train_fortunes" --model-in "$WORK/init.gguf" --out "$WORK/llmux-fortunes.gguf" \
    --out-type q8_0 --ctx 256 --ubatch 256 --threads "$THREADS" --steps "$STEPS" --evals 11 \
    --warmup 100 --lr 2e-4 --lr-min 2e-5 --max-val-chunks 32 --seed 1 $FILES \
    | tee "$WORK/train.log"

cp "$WORK/llmux-fortunes.gguf" "$OUT"
echo "wrote $OUT ($(wc -c <"$OUT") bytes)"
