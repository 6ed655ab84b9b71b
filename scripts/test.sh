#!/usr/bin/env bash
# The test command: prepares the local test servers, runs every test, then checks
# the service with tools nobody here wrote (schemathesis, a fuzzer's short pass).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-servers.sh
cargo nextest run --no-fail-fast --test-threads 6 "$@"
scripts/schemathesis.sh
scripts/fuzz.sh
