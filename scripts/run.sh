#!/usr/bin/env bash
# Sets up, builds, and runs `llmux run` with the given arguments (default: the bundled model).
#   ./scripts/run.sh "Once upon a time"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" >&2
"$root/scripts/build.sh" build >/dev/null
exec "$root/build/bin/llmux" run "$@"
