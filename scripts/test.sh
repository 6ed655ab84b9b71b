#!/usr/bin/env bash
# The test command: prepares the local test servers, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-servers.sh
cargo nextest run --no-fail-fast --test-threads 6 "$@"
