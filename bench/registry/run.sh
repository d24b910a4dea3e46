#!/usr/bin/env bash
# Slipway vs. docker-registry (distribution) side by side on loopback; see bench/README.md.
#
# Builds Slipway, starts it and distribution on free ports with authentication on and
# filesystem storage in a temp dir, runs bench/registry/bench.ts against both, then stops
# them. The servers are always stopped and the temp dir removed on exit.
#
# Environment (all optional):
#   BENCH_KEEP_TMP=1         keep the temp dir (server logs, data) and print its path
#   BENCH_SKIP_BUILD=1       do not run `npm run build` (dist/ must be current)
#   BENCH_SLIPWAY_REF=REF    benchmark this committed revision instead of the work tree: it is
#                            exported with `git archive` and built in the temp dir
#   SLIPWAY_NODE_ARGS="..."  extra node flags for the Slipway process, e.g.
#                            "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it
#   SLIPWAY_MAIN=PATH        run this main.js instead of dist/main.js (A/B a patched build)
#   BENCH_ONLY, BENCH_ROUNDS, BENCH_WRK_ROUNDS, BENCH_WRK_DURATION, BENCH_WRK_CONNECTIONS,
#   BENCH_OUT, BENCH_TRACE:
#                            passed through to bench.ts (see the top of that file)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    if [ "$1" = htpasswd ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "bench: installing apache2-utils for htpasswd" >&2
      apt-get install -y -qq apache2-utils >/dev/null || { apt-get update -qq && apt-get install -y -qq apache2-utils >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 || {
      echo "bench: '$1' not found; install the Debian package $2" >&2
      exit 1
    }
  fi
}
need docker-registry docker-registry
need wrk wrk
need htpasswd apache2-utils
need curl curl

tmp="$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench.XXXXXX")"
slipway_pid=""
peer_pid=""

stop_server() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_server "$slipway_pid"
  stop_server "$peer_pid"
  wait 2>/dev/null || true
  if [ "${BENCH_KEEP_TMP:-}" = 1 ]; then
    echo "bench: kept $tmp" >&2
  else
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
  slipway_main="$tmp/slipway-src/dist/main.js"
  slipway_revision="$rev"
else
  if [ "${BENCH_SKIP_BUILD:-}" != 1 ] && [ -z "${SLIPWAY_MAIN:-}" ]; then
    echo "bench: npm run build" >&2
    npm run --silent build >&2
  fi
  slipway_main="${SLIPWAY_MAIN:-dist/main.js}"
  slipway_revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  if [ -n "${SLIPWAY_MAIN:-}" ]; then
    slipway_revision="$SLIPWAY_MAIN"
  elif ! git diff --quiet HEAD -- src package.json package-lock.json 2>/dev/null; then
    slipway_revision="$slipway_revision + uncommitted changes"
  fi
fi

# Two distinct free loopback ports (both are bound at once, so they differ).
read -r slipway_port peer_port < <(node -e '
  const net = require("net");
  const free = () => new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => resolve(s));
  });
  Promise.all([free(), free()]).then((servers) => {
    console.log(servers.map((s) => s.address().port).join(" "));
    servers.forEach((s) => s.close());
  });
')

admin_password="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
peer_user="bench"
peer_password="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

# distribution: htpasswd (bcrypt, htpasswd's default cost) and filesystem storage.
mkdir -p "$tmp/slipway" "$tmp/distribution"
htpasswd -Bbn "$peer_user" "$peer_password" | sed '/^$/d' >"$tmp/htpasswd"
cat >"$tmp/distribution.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/distribution
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$peer_port
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
auth:
  htpasswd:
    realm: slipway-bench
    path: $tmp/htpasswd
EOF

# shellcheck disable=SC2086 # SLIPWAY_NODE_ARGS is a list of flags
SLIPWAY_ADMIN_PASSWORD="$admin_password" node ${SLIPWAY_NODE_ARGS:---max-semi-space-size=64} "$slipway_main" serve \
  --listen "127.0.0.1:$slipway_port" --data "$tmp/slipway" --log-level warn --gc-interval 0 \
  >"$tmp/slipway.log" 2>&1 &
slipway_pid=$!

docker-registry serve "$tmp/distribution.yml" >"$tmp/distribution.log" 2>&1 &
peer_pid=$!

wait_ready() {
  local name="$1" pid="$2" port="$3" log="$4" code
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: $name exited during startup; its log:" >&2
      cat "$log" >&2
      exit 1
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)"
    if [ "$code" = 401 ] || [ "$code" = 200 ]; then return 0; fi
    sleep 0.1
  done
  echo "bench: $name did not answer on port $port within 30 s; its log:" >&2
  cat "$log" >&2
  exit 1
}
wait_ready slipway "$slipway_pid" "$slipway_port" "$tmp/slipway.log"
wait_ready distribution "$peer_pid" "$peer_port" "$tmp/distribution.log"
echo "bench: slipway on :$slipway_port (pid $slipway_pid), distribution on :$peer_port (pid $peer_pid), data in $tmp" >&2

status=0
SLIPWAY_URL="http://127.0.0.1:$slipway_port" \
  SLIPWAY_USER=admin \
  SLIPWAY_PASSWORD="$admin_password" \
  SLIPWAY_PID="$slipway_pid" \
  PEER_URL="http://127.0.0.1:$peer_port" \
  PEER_USER="$peer_user" \
  PEER_PASSWORD="$peer_password" \
  PEER_PID="$peer_pid" \
  PEER_BCRYPT_COST="$(cut -d'$' -f3 "$tmp/htpasswd")" \
  SLIPWAY_REVISION="$slipway_revision" \
  node --import tsx bench/registry/bench.ts || status=$?

for log in slipway distribution; do
  if grep -qiE 'level=(error|fatal|panic)|"level":(50|60)' "$tmp/$log.log"; then
    echo "bench: $log logged errors (last lines below)" >&2
    tail -n 20 "$tmp/$log.log" >&2
  fi
done
exit "$status"
