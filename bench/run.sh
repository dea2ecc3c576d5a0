#!/usr/bin/env bash
# Load benchmark: a release build of Outpost on a private PostgreSQL cluster, N generated
# issues, then wrk (signed in) against the issue page, the filtered issue list and the API.
# Prints generation time, req/s, p50/p95/p99 and the server's RSS.
#
#   bench/run.sh [ISSUES] [SECONDS] [CONNECTIONS]      (defaults: 100000 20 32)
#
# Needs: postgresql (server binaries), wrk, curl. Runs everything on loopback and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."

ISSUES=${1:-100000}
SECONDS_PER_RUN=${2:-20}
CONNECTIONS=${3:-32}
PORT=${PORT:-18181}
DATA=$(mktemp -d /tmp/outpost-bench.XXXXXX)
chmod 755 "$DATA"

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install $tool)"; exit 1; }
done

cargo build --release -p outpost -q
OUTPOST=target/release/outpost

cleanup() {
  [ -n "${SERVER:-}" ] && kill -INT "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

OUTPOST_LOG_LEVEL=warn "$OUTPOST" quickstart --data "$DATA" --port "$PORT" > "$DATA/quickstart.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null || { cat "$DATA/quickstart.log"; exit 1; }

# quickstart writes $DATA/outpost.toml so that admin commands reach its cluster.
echo "== generating $ISSUES issues"
"$OUTPOST" dev generate --config "$DATA/outpost.toml" --issues "$ISSUES" --users 200

# Sign in as a generated user through the real form.
JAR="$DATA/cookies"
CSRF=$(curl -s -c "$JAR" "http://127.0.0.1:$PORT/login" | sed -n 's/.*name="csrf_token" value="\([0-9a-f]*\)".*/\1/p' | head -1)
curl -s -b "$JAR" -c "$JAR" -o /dev/null -d "csrf_token=$CSRF&username=user0007&password=generated-password" "http://127.0.0.1:$PORT/login"
SESSION=$(awk '$6 == "outpost_session" { print $7 }' "$JAR")
[ -n "$SESSION" ] || { echo "bench: sign-in failed"; exit 1; }
export COOKIE="outpost_session=$SESSION" ISSUES

run() {
  local name=$1; shift
  echo "== $name"
  PATHS="$*" wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s bench/latency.lua "http://127.0.0.1:$PORT" | sed -n '/^requests/,$p'
}

run "issue page (GET /issues/BENCH-n, random n)" "/issues/BENCH-{n}"
run "filtered issue list (status, assignee, sort by priority)" \
  "/projects/BENCH/issues?status=open&assignee=user0042&sort=priority" \
  "/projects/BENCH/issues?type=bug&sort=updated" \
  "/projects/BENCH/issues?status=in_progress&page=3"
run "title search in the list (q=...)" "/projects/BENCH/issues?q=billing+export" "/projects/BENCH/issues?q=ldap"
# OQL: statusCategory != done AND assignee = user0042 ORDER BY priority DESC
#      type = bug AND updated >= -30d ORDER BY updated DESC
#      priority >= high AND statusCategory = todo ORDER BY key
run "OQL list (three queries)" \
  "/projects/BENCH/issues?oql=statusCategory%20%21%3D%20done%20AND%20assignee%20%3D%20user0042%20ORDER%20BY%20priority%20DESC" \
  "/projects/BENCH/issues?oql=type%20%3D%20bug%20AND%20updated%20%3E%3D%20-30d%20ORDER%20BY%20updated%20DESC" \
  "/projects/BENCH/issues?oql=priority%20%3E%3D%20high%20AND%20statusCategory%20%3D%20todo%20ORDER%20BY%20key"
run "Kanban board (done older than 14 days hidden, first 1000 cards)" "/projects/BENCH/board"
echo "== server memory"
SERVER_PID=$(pgrep -f "target/release/outpost quickstart --data $DATA" | head -1)
echo "RSS $(( $(ps -o rss= -p "$SERVER_PID") / 1024 )) MiB (outpost process, after the runs)"
