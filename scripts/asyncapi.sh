#!/usr/bin/env bash
# Validates the event contract, schemas/asyncapi.yaml, with the AsyncAPI CLI
# (npm @asyncapi/cli, pinned): exits non-zero on any error; warnings and infos
# are printed and pass. The CLI is installed into a fixed prefix the first time
# (about two minutes), and again only when the pinned version changes.
# Usage: scripts/asyncapi.sh [DOCUMENT]   (default schemas/asyncapi.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
# The newest release whose `engines` accepts Node.js 20 (5.x and 6.x want >= 24).
VERSION=4.1.1
prefix=/var/lib/onramp-asyncapi
doc=${1:-schemas/asyncapi.yaml}
cli="$prefix/node_modules/.bin/asyncapi"

command -v node >/dev/null || { echo "asyncapi.sh: node is not installed" >&2; exit 1; }
[ -f "$doc" ] || { echo "asyncapi.sh: no such document: $doc" >&2; exit 1; }

installed() {
  [ -x "$cli" ] &&
    [ "$(node -p 'require(process.argv[1]).version' "$prefix/node_modules/@asyncapi/cli/package.json" 2>/dev/null)" = "$VERSION" ]
}

if ! installed; then
  echo "asyncapi.sh: installing @asyncapi/cli@$VERSION into $prefix" >&2
  mkdir -p "$(dirname "$prefix")"
  # Into a fresh directory beside the prefix, then swapped in: an interrupted
  # install leaves no half-installed CLI behind.
  new=$(mktemp -d "$prefix.new.XXXXXX")
  trap 'rm -rf "$new"' EXIT
  npm install --prefix "$new" --save-exact --no-audit --no-fund --no-update-notifier \
    --loglevel=error "@asyncapi/cli@$VERSION" </dev/null >&2
  rm -rf "$prefix"
  # -T: never into a directory another run swapped in meanwhile (then that one stands).
  mv -T "$new" "$prefix" 2>/dev/null || rm -rf "$new"
  trap - EXIT
  installed || { echo "asyncapi.sh: @asyncapi/cli@$VERSION did not install" >&2; exit 1; }
fi

# No telemetry, no prompt, no update check: the CLI reads its analytics setting
# from this file (it would otherwise create ~/.asyncapi-analytics with tracking
# on), skips its metrics sink when CI=true, and its update check with the oclif
# variable.
analytics="$prefix/analytics.json"
if [ ! -f "$analytics" ]; then
  echo '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"onramp-ci"}' >"$analytics"
fi
export ASYNCAPI_METRICS_CONFIG_PATH="$analytics"
export CI=true
export ASYNCAPI_SKIP_NEW_VERSION_CHECK=true

"$cli" validate "$doc" --fail-severity error </dev/null
