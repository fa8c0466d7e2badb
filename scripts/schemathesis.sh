#!/usr/bin/env bash
# Property-based API testing of the eats HTTP API with Schemathesis.
#
#   scripts/schemathesis.sh                 # all checks, 25 examples per operation
#   ST_MAX_EXAMPLES=100 ST_ROLE=store_owner scripts/schemathesis.sh
#   scripts/schemathesis.sh --exclude-checks positive_data_acceptance   # extra args go to `schemathesis run`
#
# Installs a pinned Schemathesis into a venv (ST_VENV, default ~/.cache/eats-schemathesis-venv),
# starts a server (target/debug/eats, or EATS_BIN) on a free loopback port with a throwaway data
# dir, mints a token (ST_ROLE, default customer; that customer is registered first so /customers/me
# exists), and runs Schemathesis against the served /openapi.json with base URL /api/v1.
# The SSE operations `streamOrder`, `streamStoreQueue`, `streamAvailableDeliveries` and
# `streamOrderRider` (their text/event-stream "array" schema confuses Schemathesis) are excluded.
# Exits non-zero when Schemathesis reports failures. Reports (junit, ndjson) go to ST_REPORT_DIR.
set -euo pipefail
SCHEMATHESIS_VERSION=4.32.5
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/eats-schemathesis-venv}"
bin="${EATS_BIN:-$repo/target/debug/eats}"
role="${ST_ROLE:-customer}"
max_examples="${ST_MAX_EXAMPLES:-25}"
report_dir="${ST_REPORT_DIR:-${TMPDIR:-/tmp}/eats-schemathesis-report}"

if [[ ! -x "$venv/bin/schemathesis" ]] || [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
if [[ ! -x "$bin" ]]; then
  (cd "$repo" && cargo build --bin eats)
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
secret="schemathesis-secret-$(date +%s%N)-0123456789abcdef"
data="$(mktemp -d -t eats-st-XXXXXX)"
EATS_DATA_DIR="$data" EATS_LISTEN="127.0.0.1:$port" EATS_JWT_SECRET="$secret" \
  EATS_RATE_LIMIT_PER_SEC=10000 EATS_RATE_LIMIT_BURST=10000 EATS_PAYMENT_SIM_LATENCY_MS=1 \
  "$bin" serve >"$data/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$data/server.log" >&2; exit 1; }
  sleep 0.1
done

sub="$(python3 -c 'import uuid; print(uuid.uuid4())')"
token="$(EATS_JWT_SECRET="$secret" "$bin" token --role "$role" --sub "$sub")"
if [[ "$role" == customer ]]; then
  curl -fsS -o /dev/null -X POST "$base/api/v1/customers" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' \
    -d '{"name":"Schemathesis","phone":"010-1234-5678","address":"Seoul","location":{"lat":37.5665,"lng":126.978}}'
fi

mkdir -p "$report_dir"
# Schemathesis keeps a `.schemathesis/` cache in its working directory: keep it out of the repo.
cd "$report_dir"
set +e
"$venv/bin/schemathesis" --config-file "$repo/scripts/schemathesis.toml" run "$base/openapi.json" \
  --url "$base/api/v1" \
  --header "Authorization: Bearer $token" \
  --exclude-operation-id streamOrder \
  --exclude-operation-id streamStoreQueue \
  --exclude-operation-id streamAvailableDeliveries \
  --exclude-operation-id streamOrderRider \
  --checks all \
  --max-examples "$max_examples" \
  --seed "${ST_SEED:-1}" \
  --workers "${ST_WORKERS:-1}" \
  --request-timeout 10 \
  --report junit,ndjson --report-dir "$report_dir" \
  --no-color \
  "$@"
rc=$?
set -e
echo "schemathesis.sh: exit $rc; reports in $report_dir; server log kept at $report_dir/server.log" >&2
cp "$data/server.log" "$report_dir/server.log" || true
exit $rc
