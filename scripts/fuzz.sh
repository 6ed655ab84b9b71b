#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of request parsing and per-type
# validation, and of the decoders of servers' answers (Arrow IPC, Parquet footers,
# BigQuery type text, BSON documents, Snowflake JSON rows, AWS XML error answers).
# A target fails on a panic, a timeout, more than 2 GiB of memory or a single
# allocation over 1 GiB.
#   scripts/fuzz.sh          a short pass (CI): 15 s per target, the committed corpus
#                            as seeds, nothing written back
#   scripts/fuzz.sh 600 --grow   ten minutes per target, new inputs kept in fuzz/corpus
#   FUZZ_TARGETS="request aws_error_body" scripts/fuzz.sh ...   only these targets
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
grow=${2:-}
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --version "0.13.2"
fi
# cargo fuzz passes nightly flags; this toolchain is stable.
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none --release
for target in ${FUZZ_TARGETS:-$(cargo fuzz list)}; do
  seeds="fuzz/corpus/$target"
  mkdir -p "$seeds"
  if [ "$grow" = "--grow" ]; then
    dirs=("$seeds")
  else
    scratch=$(mktemp -d)
    dirs=("$scratch" "$seeds")
  fi
  echo "fuzzing $target for ${seconds}s"
  log=$(mktemp)
  status=0
  cargo fuzz run -s none --release "$target" "${dirs[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -timeout=10 -max_len=65536 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|==[0-9]+== ERROR)|panicked" "$log" || true
  [ "$grow" = "--grow" ] || rm -rf "$scratch"
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
done
