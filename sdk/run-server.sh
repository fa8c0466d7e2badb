#!/usr/bin/env bash
# Starts an eats server on a free loopback port with a throwaway data dir, exports
#   EATS_URL          e.g. http://127.0.0.1:40123  (API base is $EATS_URL/api/v1)
#   EATS_JWT_SECRET   the server's signing secret (tests mint tokens with `$EATS_BIN token`)
#   EATS_BIN          the eats binary (default <repo>/target/debug/eats)
# runs "$@", then stops the server. Exit status is that of "$@".
#
#   sdk/run-server.sh pytest -q
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
if [[ -z "${EATS_BIN:-}" ]]; then
  EATS_BIN="$repo/target/debug/eats"
fi
[[ -x "$EATS_BIN" ]] || { echo "run-server.sh: no eats binary at $EATS_BIN (cargo build --bin eats)" >&2; exit 1; }
export EATS_BIN
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export EATS_JWT_SECRET="${EATS_JWT_SECRET:-sdk-test-secret-$(date +%s%N)-0123456789abcdef}"
data="$(mktemp -d -t eats-sdk-XXXXXX)"
log="$data/server.log"
EATS_DATA_DIR="$data" EATS_LISTEN="127.0.0.1:$port" \
  EATS_RATE_LIMIT_PER_SEC="${EATS_RATE_LIMIT_PER_SEC:-10000}" EATS_RATE_LIMIT_BURST="${EATS_RATE_LIMIT_BURST:-10000}" \
  EATS_PAYMENT_SIM_LATENCY_MS="${EATS_PAYMENT_SIM_LATENCY_MS:-1}" \
  "$EATS_BIN" serve >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
export EATS_URL="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  if curl -fsS "$EATS_URL/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "run-server.sh: server exited:" >&2; cat "$log" >&2; exit 1; fi
  sleep 0.1
done
curl -fsS "$EATS_URL/healthz" >/dev/null || { echo "run-server.sh: server not healthy" >&2; cat "$log" >&2; exit 1; }
echo "run-server.sh: eats at $EATS_URL (log $log)" >&2
set +e
"$@"
rc=$?
if [[ $rc -ne 0 ]]; then echo "run-server.sh: --- server log tail ---" >&2; tail -n 40 "$log" >&2; fi
exit $rc
