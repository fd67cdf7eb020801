#!/usr/bin/env bash
# Runs the whole test suite: installs the test peers, then `deno test`.
# Usage: scripts/test.sh [deno test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-deps.sh
DENO="${DENO:-$(command -v deno || true)}"
if [ -z "$DENO" ]; then
  npx -y deno@2.9.6 --version >/dev/null
  DENO=$(ls -1 "$HOME"/.npm/_npx/*/node_modules/@deno/linux-x64-glibc/deno | head -n 1)
fi
exec "$DENO" test -A --parallel "$@"
