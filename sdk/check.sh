#!/usr/bin/env bash
# CI check for the SDKs, as packages people install:
#   1. regenerate (generate.sh) and fail if the checked-in generated code or the stamped
#      versions are stale (`git status --porcelain sdk/` shows changes);
#   2. build each package: a Python wheel, an npm tarball (`npm pack`), the Rust crate's docs
#      (`cargo doc`, warnings denied);
#   3. install each into a scratch project outside the source folders (a fresh virtualenv on
#      the oldest Python found, >= 3.9; a scratch npm project installing the tarball; a scratch
#      cargo project with a path dependency) and run its lifecycle test from there;
#   4. run each README's quick start (the Python and JavaScript blocks as scripts against the
#      installed packages, the Rust one as a doctest) and the Rust example.
# Every test gets its own fresh server (run-server.sh; binary EATS_BIN, default
# <repo>/target/debug/eats), with one open store for the quick starts (with-shop.sh).
# SDK_SKIP_STALENESS=1 skips step 1; EATS_SDK_PYTHON picks the interpreter of step 3.
set -euo pipefail
sdk="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$sdk/.." && pwd)"
cd "$sdk"
work="$(mktemp -d -t eats-sdk-check-XXXXXX)"; trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*" >&2; }
serve() { "$sdk/run-server.sh" "$sdk/with-shop.sh" "$@"; }

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
  (cd typescript && [[ -d node_modules ]] || npm ci --no-audit --no-fund)
  if [[ ! -x .venv/bin/pip ]]; then python3 -m venv .venv; fi
  cmp -s python/requirements.txt .venv/.requirements.installed ||
    { .venv/bin/pip install -q -r python/requirements.txt && cp python/requirements.txt .venv/.requirements.installed; }
fi
version="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["info"]["version"])' ../schemas/openapi.json)"

step "Python: wheel eats_client-$version, installed into a fresh virtualenv"
.venv/bin/pip wheel -q --no-deps --no-build-isolation -w "$work/dist" ./python
wheel="$work/dist/eats_client-$version-py3-none-any.whl"
[[ -f "$wheel" ]] || { echo "check.sh: no $wheel" >&2; ls "$work/dist" >&2; exit 1; }
rm -rf python/build python/*.egg-info
py="${EATS_SDK_PYTHON:-}"
if [[ -z "$py" ]]; then
  for candidate in "$HOME"/.pyenv/versions/3.9.*/bin/python3 python3.9 python3; do
    if "$candidate" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null; then py="$candidate"; break; fi
  done
fi
"$py" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel" "pytest==8.4.2"
mkdir -p "$work/py" && cp -r python/tests "$work/py/"
(cd "$work/py" && "$work/venv/bin/python" -c 'import eats_client, sys; print("check.sh: eats_client from", eats_client.__file__, "on Python", sys.version.split()[0], file=sys.stderr); assert "site-packages" in eats_client.__file__')
(cd "$work/py" && serve "$work/venv/bin/python" -m pytest -q -p no:cacheprovider tests)
./readme_code.py python/README.md python > "$work/py/quickstart.py"
(cd "$work/py" && serve "$work/venv/bin/python" quickstart.py)

step "TypeScript: npm pack, installed into a scratch npm project"
(cd typescript && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$work/eats-client-$version.tgz"
[[ -f "$tarball" ]] || { echo "check.sh: no $tarball" >&2; ls "$work" >&2; exit 1; }
mkdir -p "$work/ts/test"
cat > "$work/ts/package.json" <<JSON
{ "name": "eats-sdk-consumer", "private": true, "type": "module",
  "dependencies": { "eats-client": "file:$tarball" },
  "devDependencies": { "@types/node": "20.19.43", "typescript": "5.9.3" } }
JSON
cp typescript/tsconfig.test.json "$work/ts/" && cp typescript/test/*.ts "$work/ts/test/"
(cd "$work/ts" && npm install --prefer-offline --no-audit --no-fund --silent)
(cd "$work/ts" && node_modules/.bin/tsc -p tsconfig.test.json && serve node --test build-test/)
./readme_code.py typescript/README.md js > "$work/ts/quickstart.mjs"
(cd "$work/ts" && serve node quickstart.mjs)

step "Rust: cargo doc, a scratch cargo project with a path dependency, the quick start and the example"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --locked --no-deps --manifest-path rust/Cargo.toml -p eats-client
mkdir -p "$work/rs/src" "$work/rs/tests"
cat > "$work/rs/Cargo.toml" <<TOML
[package]
name = "eats-sdk-consumer"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
eats-client = { path = "$sdk/rust/eats-client" }

[dev-dependencies]
tokio = { version = "1", features = ["macros", "rt-multi-thread", "time"] }
uuid = { version = "1", features = ["v4"] }
TOML
echo "" > "$work/rs/src/lib.rs"
cp rust/eats-client/tests/lifecycle.rs "$work/rs/tests/"
# The SDK's lockfile and target dir: same dependency versions, nothing rebuilt twice.
cp rust/Cargo.lock "$work/rs/"
(cd "$work/rs" && CARGO_TARGET_DIR="$sdk/rust/target" serve cargo test --quiet --test lifecycle)
(cd rust && serve cargo test --quiet --locked -p eats-client --doc)
(cd rust && serve cargo run --quiet --locked -p eats-client --example lifecycle)
echo "check.sh: all SDK checks passed" >&2
