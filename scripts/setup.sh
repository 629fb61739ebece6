#!/usr/bin/env bash
# Installs everything a fresh Debian machine needs to build and test llmux, idempotently:
# Debian -dev packages (only the missing ones), then llama.cpp from the npm registry, built once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(build-essential cmake pkg-config git ca-certificates
          libcurl4-openssl-dev libevent-dev libjansson-dev libsqlite3-dev libpq-dev libyaml-dev
          libseccomp-dev libcmocka-dev clang libclang-rt-dev
          libedit-dev  # line editing and history for `llmux chat`
          postgresql  # a real server for the records tests (tests/support/pg_server.c)
          libssl-dev libnghttp2-dev)  # the tests' TLS / HTTP/2 fake server
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$root/scripts/build-llama.sh"

# The official OpenAI and Anthropic SDKs the server tests run as real clients (pinned in
# tests/server/sdk/package-lock.json, from the npm registry).
if [ ! -f "$root/tests/server/sdk/node_modules/openai/package.json" ] ||
   [ ! -f "$root/tests/server/sdk/node_modules/@anthropic-ai/sdk/package.json" ]; then
  "$root/scripts/install-sdk-clients.sh"
fi
