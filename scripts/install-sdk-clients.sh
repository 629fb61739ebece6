#!/bin/sh
# Installs the official OpenAI and Anthropic SDKs that tests/server/test_sdk.c runs against
# `llmux serve`: the exact versions of tests/server/sdk/package-lock.json, from the npm registry,
# into tests/server/sdk/node_modules (ignored by git). Needs node and npm.
set -eu
cd "$(dirname "$0")/../tests/server/sdk"
exec npm ci --no-audit --no-fund --loglevel=error
