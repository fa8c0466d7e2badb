#!/usr/bin/env bash
# Regenerates the three SDKs from ../schemas/openapi.json. Installs the pinned generators locally:
#   TypeScript: openapi-typescript 7.13.0 (+ TypeScript 5.9.3, openapi-fetch 0.17.0) via `npm ci` into typescript/node_modules
#   Python:     openapi-python-client 0.29.1 (python/requirements.txt) into .venv
#   Rust:       progenitor 0.15.1 (rust/Cargo.lock) through the rust/generator crate
# Only registry packages are downloaded (npm, PyPI, crates.io). Then python/compat.py makes the
# Python code run on 3.9 and stamp_version.py stamps info.version into the three packages.
# One command, re-runnable by anyone after the API changes: sdk/generate.sh
set -euo pipefail
sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$sdk"
spec=../schemas/openapi.json
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

step() { printf '\n== %s\n' "$*" >&2; }

step "normalise the OpenAPI document (prepare_spec.py)"
python3 prepare_spec.py "$spec" openapi.sdk.json
python3 prepare_spec.py "$spec" "$tmp/progenitor.json" --progenitor

step "TypeScript: openapi-typescript -> typescript/src/schema.ts"
(
  cd typescript
  if [[ ! -x node_modules/.bin/openapi-typescript ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
  node_modules/.bin/openapi-typescript ../openapi.sdk.json -o src/schema.ts
)

step "Python: openapi-python-client -> python/eats_client"
if [[ ! -x .venv/bin/python ]]; then python3 -m venv .venv; fi
if ! cmp -s python/requirements.txt .venv/.requirements.installed; then
  .venv/bin/pip install -q -r python/requirements.txt
  cp python/requirements.txt .venv/.requirements.installed
fi
(
  cd python
  rm -rf eats_client
  ../.venv/bin/openapi-python-client generate --path ../openapi.sdk.json --config config.yaml \
    --meta none --output-path eats_client --overwrite
  python3 compat.py eats_client
)

step "Rust: progenitor -> rust/eats-client/src/generated.rs"
cargo run --quiet --locked --manifest-path rust/Cargo.toml -p eats-sdk-generator -- \
  "$tmp/progenitor.json" rust/eats-client/src/generated.rs

step "version: info.version -> the three packages (stamp_version.py)"
python3 stamp_version.py "$spec"

step "done"
