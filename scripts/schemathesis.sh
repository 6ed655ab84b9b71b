#!/usr/bin/env bash
# schemathesis (PyPI) against the OpenAPI document of a running `onramp serve`:
# every phase, every check, a fixed seed and example count so a failure reproduces.
# Uses its own database, queue names and Redis prefix, and removes them after.
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (CI runs it with the default)
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=20261201
MAX_EXAMPLES=${1:-25}
venv=/var/lib/onramp-schemathesis
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.*"
fi
cargo build -q --bin onramp
# Where cargo put it: a shared CARGO_TARGET_DIR too.
onramp="${CARGO_TARGET_DIR:-target}/debug/onramp"
id="st$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export ONRAMP_HTTP_ADDR="127.0.0.1:$port"
export ONRAMP_DATABASE_URL="postgres://postgres@localhost/onramp_$id?host=/var/run/postgresql"
export ONRAMP_PREFIX="$id"
export ONRAMP_SECRET_KEY="$(head -c 32 /dev/urandom | base64)"
export ONRAMP_CONNECT_TIMEOUT_MS=2000 ONRAMP_DISCOVER_TIMEOUT_MS=5000
# The fuzzed datasources name any host: the workers may reach loopback only. Every
# other range is refused by the policy (nothing is sent there), and names resolve
# against a resolver on loopback where none listens (no DNS query leaves).
export ONRAMP_EGRESS_ALLOW_PRIVATE=false
export ONRAMP_EGRESS_ALLOW="127.0.0.0/8,::1/128"
export ONRAMP_EGRESS_DENY="0.0.0.0/2,64.0.0.0/3,96.0.0.0/4,112.0.0.0/5,120.0.0.0/6,124.0.0.0/7,126.0.0.0/8,128.0.0.0/1,2000::/3,64:ff9b::/96"
log=$(mktemp)
resolv=$(mktemp)
echo "nameserver 127.0.0.1" >"$resolv"
unshare --mount sh -c "mount --bind '$resolv' /etc/resolv.conf && exec '$onramp' serve" >"$log" 2>&1 &
serve=$!
cleanup() {
  kill "$serve" 2>/dev/null || true
  wait "$serve" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS onramp_$id WITH (FORCE)" >/dev/null 2>&1 || true
  rabbitmqctl -q list_queues name 2>/dev/null | { grep -E "^$id\\." || true; } |
    while read -r q; do rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true; done
  redis-cli --scan --pattern "$id:*" | xargs -r redis-cli del >/dev/null
  rm -f "$log" "$resolv"
}
trap cleanup EXIT
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 1
done
token=$("$onramp" token create --org "$id")
# Requests go only to loopback: the service under test and, through it, nothing
# else (the fuzzed datasources name hosts the workers resolve and refuse or fail).
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $token" \
  --phases examples,coverage,fuzzing,stateful \
  --checks all \
  --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
  --request-timeout 70 \
  --no-color
