#!/usr/bin/env bash
# Inside run-server.sh: opens one store with a menu (as a store owner) so the quick starts have
# something to order, exports a token per role, then runs "$@":
#   EATS_TOKEN (customer), EATS_OWNER_TOKEN (store_owner), EATS_RIDER_TOKEN (rider)
#
#   sdk/run-server.sh sdk/with-shop.sh python3 quickstart.py
set -euo pipefail
: "${EATS_URL:?run under run-server.sh}" "${EATS_BIN:?run under run-server.sh}"
mint() { "$EATS_BIN" token --role "$1" --sub "$(python3 -c 'import uuid; print(uuid.uuid4())')"; }
EATS_OWNER_TOKEN="$(mint store_owner)"; EATS_TOKEN="$(mint customer)"; EATS_RIDER_TOKEN="$(mint rider)"
export EATS_OWNER_TOKEN EATS_TOKEN EATS_RIDER_TOKEN
api() { # METHOD PATH [JSON] -> the answer's body; fails on a non-2xx status
  curl -fsS -X "$1" "$EATS_URL/api/v1$2" -H "Authorization: Bearer $EATS_OWNER_TOKEN" \
    -H 'Content-Type: application/json' ${3:+--data "$3"}
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
store="$(api POST /stores '{"name":"Quick Start Kimbap","address":"Seoul","location":{"lat":37.5665,"lng":126.978}}' | field id)"
api POST "/stores/$store/menu/items" '{"name":"Kimbap","price":4500}' >/dev/null
api POST "/stores/$store/open" >/dev/null
# The store list is a read model: wait (generously) until it shows the store open.
for _ in $(seq 1 300); do
  if api GET /stores | python3 -c "import json,sys; sys.exit(0 if any(s['store_id']=='$store' and s['open'] for s in json.load(sys.stdin)['items']) else 1)"; then
    break
  fi
  sleep 0.05
done
echo "with-shop.sh: store $store open" >&2
exec "$@"
