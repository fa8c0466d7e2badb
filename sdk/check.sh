#!/usr/bin/env bash
# CI check for the SDKs:
#   1. regenerate (generate.sh) and fail if the checked-in generated code is stale
#      (`git status --porcelain sdk/` shows changes);
#   2. run the three lifecycle tests (TypeScript, Python, Rust), each against its own fresh
#      server started by run-server.sh (binary: EATS_BIN, default <repo>/target/debug/eats).
set -euo pipefail
sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$sdk/.." && pwd)"
cd "$sdk"

if [[ "${SDK_SKIP_STALENESS:-0}" != 1 ]]; then
  before="$(git -C "$repo" status --porcelain -- sdk/)"
  ./generate.sh
  after="$(git -C "$repo" status --porcelain -- sdk/)"
  if [[ -n "$after" ]]; then
    echo "check.sh: sdk/ has changes after regeneration (stale or uncommitted generated code):" >&2
    echo "$after" >&2
    git -C "$repo" --no-pager diff --stat -- sdk/ >&2 || true
    [[ -n "$before" ]] && echo "check.sh: (sdk/ was already dirty before regenerating: commit first)" >&2
    exit 1
  fi
  echo "check.sh: generated SDKs are up to date" >&2
else
  # Still need the toolchains installed for the tests.
  (cd typescript && [[ -d node_modules ]] || npm ci --no-audit --no-fund)
  [[ -x .venv/bin/pytest ]] || { python3 -m venv .venv; .venv/bin/pip install -q -r python/requirements.txt; }
fi

echo "== TypeScript lifecycle test" >&2
(cd typescript && rm -rf dist && node_modules/.bin/tsc -p tsconfig.json && ../run-server.sh node --test dist/test/)
echo "== Python lifecycle test" >&2
(cd python && ../run-server.sh ../.venv/bin/pytest -q)
echo "== Rust lifecycle test" >&2
(cd rust && ../run-server.sh cargo test --locked -p eats-client --test lifecycle)
echo "check.sh: all SDK checks passed" >&2
