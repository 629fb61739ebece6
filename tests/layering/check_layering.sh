#!/usr/bin/env bash
# DESIGN.md §3 as a test: a module includes only its own headers and those of the modules the
# table lets it use ("dependencies point down the table"; cli/ and server/ use the public API and
# config/ only). Every `#include "<module>/..."` in src/<m>/ is checked against the table below;
# a module missing from the table fails too, so a new module must be placed deliberately. An
# entry "module/file.h" allows that one header of a module and no other (docs/design-deviations.md
# says why each such exception exists).
#   check_layering.sh SOURCE_DIR
set -euo pipefail
src="$1/src"
declare -A allowed=(
  [core]="core"
  [transport]="core transport"
  [providers]="core transport providers"
  [engine]="core engine"
  [catalog]="core catalog"
  [pricing]="core pricing"
  [handoff]="core handoff"
  [router]="core router"
  [config]="core config"
  [store]="core store"
  [telemetry]="core transport telemetry"
  [runtime]="core transport providers engine catalog pricing handoff router config store telemetry runtime"
  # The IPC codec lives in core/ so the runtime can speak to the engine child; the server and the
  # CLI's `llmux ipc` client use it too, and nothing else of core/.
  # core/civil.h: calendar arithmetic, pure functions (docs/design-deviations.md).
  [server]="config server core/ipc_frame.h core/ipc_message.h core/ipc_call.h core/civil.h"
  [sandbox]="engine server sandbox"
  [cli]="config server sandbox cli core/ipc_frame.h core/ipc_message.h core/civil.h"  # `llmux serve` starts the server, `llmux engine` the engine child
)
fail=0
for dir in "$src"/*/; do
  m=$(basename "$dir")
  if [ -z "${allowed[$m]+x}" ]; then
    echo "layering: src/$m is not in DESIGN.md's module table (add it to this check and the table)"
    fail=1
    continue
  fi
  while IFS= read -r line; do
    file=${line%%:*}
    dep=$(echo "$line" | sed -E 's/.*#include "([a-z_]+)\/.*/\1/')
    header=$(echo "$line" | sed -E 's/.*#include "([a-z_]+\/[^"]+)".*/\1/')
    case " ${allowed[$m]} " in
      *" $dep "*|*" $header "*) ;;
      *) echo "layering: ${file#$1/} includes $dep/ (src/$m may use: ${allowed[$m]})"; fail=1 ;;
    esac
  done < <(find "$dir" \( -name '*.[ch]' -o -name '*.cpp' \) -exec grep -HE '^\s*#\s*include "[a-z_]+/' {} + 2>/dev/null || true)
done
[ "$fail" = 0 ] && echo "layering: every module includes only what DESIGN.md section 3 allows"
exit "$fail"
