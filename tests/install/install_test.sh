#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then a program built with only the installed header
# and pkg-config file, against the shared library and against the static one. The shared library
# must export llmux_* and nothing else.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
prefix=$(mktemp -d /tmp/llmux-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
test -f "$prefix/include/llmux.h"
test -L "$prefix/lib/libllmux.so" && test -f "$prefix/lib/libllmux.a"
soname=$(objdump -p "$prefix/lib/libllmux.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libllmux.so.0" ] || { echo "unexpected SONAME: $soname"; exit 1; }
# Exported: llmux_* only (the version node aside). Exported means global or weak binding (nm's
# upper-case letters): ld also lists, as LOCAL, the C++ library template instances that llama.cpp's
# common archive shares with libstdc++.so; the dynamic linker never binds to those.
extra=$(nm -D --defined-only "$prefix/lib/libllmux.so" | awk '$2 ~ /^[A-Z]$/ {print $3}' | grep -v '^llmux_' | grep -v '^LLMUX_0$' || true)
[ -z "$extra" ] || { echo "exported beyond llmux_*:"; echo "$extra" | head; exit 1; }
nm -D --defined-only "$prefix/lib/libllmux.so" | grep -E ' llmux_run(@@LLMUX_0)?$' >/dev/null
# Built in the prefix: the rpath would otherwise point back into the build tree.
cc -std=c11 -Wall -Wextra -Werror "$src/tests/install/consumer.c" -o "$prefix/consumer_shared" \
   $(pkg-config --cflags --libs llmux) -Wl,-rpath,"$prefix/lib"
"$prefix/consumer_shared" | grep -q "^llmux 0\.[0-9]*\.[0-9]* rate_limited$"
# The archive holds llmux and llama.cpp; its dependencies link as the system has them (shared).
cc -std=c11 "$src/tests/install/consumer.c" -o "$prefix/consumer_static" $(pkg-config --cflags llmux) \
   "$prefix/lib/libllmux.a" $(pkg-config --libs libcurl libevent libevent_pthreads jansson sqlite3 libpq) -lstdc++ -lm -lpthread -lgomp
"$prefix/consumer_static" | grep -q "rate_limited$"
echo "install test: shared ($soname) and static consumers ran"
