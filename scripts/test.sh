#!/usr/bin/env bash
# Runs the whole test suite: installs the test peers, then `deno test`.
# The streaming-volume test (1 GiB each way through a Petrel process) runs
# on its own afterwards, so it does not compete with the rest for the CPU.
# Usage: scripts/test.sh [deno test args...]
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-deps.sh || exit 1
DENO="${DENO:-$(command -v deno || true)}"
if [ -z "$DENO" ]; then
  npx -y deno@2.9.6 --version >/dev/null
  DENO=$(ls -1 "$HOME"/.npm/_npx/*/node_modules/@deno/linux-x64-glibc/deno | head -n 1)
fi
if [ $# -gt 0 ]; then exec "$DENO" test -A --parallel "$@"; fi
status=0
"$DENO" test -A --parallel --ignore=tests/large_body_test.ts || status=$?
"$DENO" test -A tests/large_body_test.ts || status=$?
exit $status
