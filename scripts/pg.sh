#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL server on a loopback port for the tests.
# Prints the connection URL on stdout; exits non-zero if no server can be had.
# PostgreSQL refuses to run as root, so the cluster belongs to an unprivileged user.
set -euo pipefail
PORT="${PRIOQ_PG_PORT:-55432}"
DATA="${PRIOQ_PG_DATA:-/tmp/prioq-pgdata-$PORT}"
URL="postgresql://prioq@127.0.0.1:$PORT/prioq"

find_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$found" ] && echo "$found"
}

if [ "$(id -u)" = 0 ] && ! [ -x "$(find_bin initdb)" ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2 || true
fi
INITDB=$(find_bin initdb); PG_CTL=$(find_bin pg_ctl); PG_ISREADY=$(find_bin pg_isready || true)
[ -n "$INITDB" ] && [ -n "$PG_CTL" ] || { echo "pg.sh: no PostgreSQL binaries found" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ ! -f "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA"
  [ "$(id -u)" = 0 ] && chown postgres "$DATA"
  as_owner "$INITDB" -D "$DATA" -U prioq --auth=trust -E UTF8 >/dev/null
fi
if ! as_owner "$PG_CTL" -D "$DATA" status >/dev/null 2>&1; then
  as_owner "$PG_CTL" -D "$DATA" -w -l "$DATA/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
fi
for _ in $(seq 1 30); do
  if [ -z "$PG_ISREADY" ] || "$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT"; then break; fi
  sleep 0.5
done
psql_bin=$(find_bin psql)
if ! "$psql_bin" -h 127.0.0.1 -p "$PORT" -U prioq -d prioq -c 'select 1' >/dev/null 2>&1; then
  "$psql_bin" -h 127.0.0.1 -p "$PORT" -U prioq -d postgres -c 'create database prioq' >/dev/null
fi
echo "$URL"
