#!/usr/bin/env bash
# The test command: prepares the local test servers, validates the event contract and
# the monitoring files, runs every test, then checks the service with tools nobody
# here wrote (schemathesis, a fuzzer's short pass).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-servers.sh
# The event contract (AsyncAPI CLI) and the monitoring files (promtool), offline.
scripts/asyncapi.sh
scripts/check-deploy.sh
cargo nextest run --no-fail-fast --test-threads 6 "$@"
scripts/schemathesis.sh
scripts/fuzz.sh
