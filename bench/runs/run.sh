#!/usr/bin/env bash
# The runs engine benchmark; see the top of bench/runs/bench.ts and bench/RESULTS.md.
#
# Builds Slipway (or a committed revision), makes a temp dir and runs bench/runs/bench.ts, which starts
# `node dist/main.js serve` on the embedded default (SQLite + filesystem, a data dir in the temp dir) and
# measures webhook latency, per-step overhead, queued-run throughput and image builds against bare
# `sh -c`, `buildah bud` and `skopeo copy`. The server is always stopped and the temp dir removed on exit.
#
# Environment (all optional):
#   BENCH_KEEP_TMP=1         keep the temp dir (server log, data, containers storage) and print its path
#   BENCH_SKIP_BUILD=1       do not run `npm run build` (dist/ must be current)
#   BENCH_SLIPWAY_REF=REF    benchmark this committed revision instead of the work tree: it is
#                            exported with `git archive` and built in the temp dir
#   SLIPWAY_NODE_ARGS="..."  extra node flags for the Slipway process
#   BENCH_ONLY, BENCH_LATENCY_RUNS, BENCH_STEP_ROUNDS, BENCH_QUEUE_RUNS, BENCH_BUILD_ROUNDS, BENCH_OUT:
#                            passed through to bench.ts (see the top of that file)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "bench: installing $2 for $1" >&2
      apt-get install -y -qq "$2" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 || {
      echo "bench: '$1' not found; install the Debian package $2" >&2
      exit 1
    }
  fi
}
need buildah buildah
need skopeo skopeo
need busybox busybox-static
need git git

tmp="$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-runs.XXXXXX")"

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # bench.ts stops the server itself; this is for when it was killed first.
  if [ -f "$tmp/slipway.pid" ]; then
    pid="$(cat "$tmp/slipway.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if [ "${BENCH_KEEP_TMP:-}" = 1 ]; then
    echo "bench: kept $tmp" >&2
  else
    # vfs storage made by buildah as root may hold read-only directories
    chmod -R u+w "$tmp" 2>/dev/null || true
    rm -rf "$tmp"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# What Slipway to run: a committed revision built in the temp dir, or this work tree's build.
if [ -n "${BENCH_SLIPWAY_REF:-}" ]; then
  rev="$(git rev-parse --verify "${BENCH_SLIPWAY_REF}^{commit}")"
  echo "bench: building Slipway $rev (git archive into the temp dir)" >&2
  mkdir -p "$tmp/slipway-src"
  git archive "$rev" | tar -x -C "$tmp/slipway-src"
  ln -s "$root/node_modules" "$tmp/slipway-src/node_modules"
  (cd "$tmp/slipway-src" && npm run --silent build >&2)
  slipway_dist="$tmp/slipway-src/dist"
  slipway_revision="$rev"
else
  if [ "${BENCH_SKIP_BUILD:-}" != 1 ]; then
    echo "bench: npm run build" >&2
    npm run --silent build >&2
  fi
  slipway_dist="$root/dist"
  slipway_revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  if ! git diff --quiet HEAD -- src package.json package-lock.json 2>/dev/null; then
    slipway_revision="$slipway_revision + uncommitted changes"
  fi
fi

status=0
BENCH_TMP="$tmp" \
  SLIPWAY_DIST="$slipway_dist" \
  SLIPWAY_REVISION="$slipway_revision" \
  node --import tsx bench/runs/bench.ts || status=$?

if [ -f "$tmp/slipway.log" ] && grep -qE '"level":(50|60)' "$tmp/slipway.log"; then
  echo "bench: slipway logged errors (last lines below)" >&2
  tail -n 20 "$tmp/slipway.log" >&2
fi
exit "$status"
