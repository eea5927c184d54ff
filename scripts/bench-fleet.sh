#!/usr/bin/env bash
# The fleet benchmark (docs/benchmarks.md, "Fleet server"): builds the device CLI and the fleet server, starts a
# throw-away PostgreSQL cluster (Debian's postgresql package) and edgellm-fleet on free loopback ports, runs
# `edgellm fleet loadgen` stage by stage and prints its JSON result. Stops only what it started, by PID.
#
# Settings (environment): STEPS (1000,2500,5000,10000), PERIOD (60), TIME_SCALE (10), DURATION (30 measured seconds
# per stage), WARMUP (10), BATCH_ITEMS (20), CONNECTIONS (512), JSON (1; 0 prints the text table), SKIP_BUILD (0),
# PG_BIN (newest /usr/lib/postgresql/*/bin), PG_OPTS (extra `postgres -c` settings, e.g. "-c synchronous_commit=off"),
# RESULT (where to keep the JSON, default out/bench-fleet.json).
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-1000,2500,5000,10000}
PERIOD=${PERIOD:-60}
TIME_SCALE=${TIME_SCALE:-10}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-10}
BATCH_ITEMS=${BATCH_ITEMS:-20}
CONNECTIONS=${CONNECTIONS:-512}
JSON=${JSON:-1}
RESULT=${RESULT:-out/bench-fleet.json}
DOTNET=${DOTNET:-dotnet}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_OPTS=${PG_OPTS:-}

[ -x "$PG_BIN/postgres" ] || { echo "bench-fleet: no PostgreSQL under /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2; exit 1; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    "$DOTNET" publish src/EdgeLlm.Cli/EdgeLlm.Cli.csproj -c Release -o out/device --self-contained false -nologo -v q
    "$DOTNET" publish src/EdgeLlm.Fleet/EdgeLlm.Fleet.csproj -c Release -o out/fleet --self-contained false -nologo -v q
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
# initdb and postgres refuse to run as root: run them as the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
wait_gone() { for _ in $(seq 1 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }

TMP=$(mktemp -d /tmp/edgellm-bench-fleet.XXXXXX)
SERVER_PID=""
PG_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait_gone "$SERVER_PID" || kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -z "$PG_PID" ] && [ -f "$TMP/pg/data/postmaster.pid" ]; then PG_PID=$(head -n 1 "$TMP/pg/data/postmaster.pid"); fi
    if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
        kill -INT "$PG_PID" 2>/dev/null || true   # fast shutdown
        wait_gone "$PG_PID" || kill -KILL "$PG_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

mkdir -p "$TMP/pg"
chmod 755 "$TMP"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$TMP/pg"; fi
as_pg "$PG_BIN/initdb" -D "$TMP/pg/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync --no-instructions > "$TMP/initdb.log" 2>&1 \
    || { cat "$TMP/initdb.log" >&2; exit 1; }
PG_PORT=$(free_port)
# shellcheck disable=SC2086 # PG_OPTS is a list of -c settings
as_pg "$PG_BIN/postgres" -D "$TMP/pg/data" -p "$PG_PORT" -k "$TMP/pg" -c listen_addresses=127.0.0.1 -c max_connections=300 \
    -c shared_buffers=256MB $PG_OPTS > "$TMP/postgres.log" 2>&1 &
for _ in $(seq 1 300); do
    if as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then break; fi
    sleep 0.1
done
as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || { cat "$TMP/postgres.log" >&2; exit 1; }
PG_PID=$(head -n 1 "$TMP/pg/data/postmaster.pid")
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres fleet

PORT=$(free_port)
KEY="eak_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
SERVER="http://127.0.0.1:$PORT"
EDGELLM_FLEET_ADMIN_KEY="$KEY" out/fleet/edgellm-fleet --urls "$SERVER" \
    --postgres "Host=127.0.0.1;Port=$PG_PORT;Database=fleet;Username=postgres" > "$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
    if curl -fsS "$SERVER/healthz" > /dev/null 2>&1; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$SERVER/healthz" > /dev/null || { cat "$TMP/server.log" >&2; exit 1; }

echo "bench-fleet: server $SERVER (pid $SERVER_PID), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on port $PG_PORT (pid $PG_PID)," \
    "steps $STEPS, period $PERIOD s / time scale $TIME_SCALE, $DURATION s per stage" >&2
ARGS=(fleet loadgen --server "$SERVER" --steps "$STEPS" --period "$PERIOD" --time-scale "$TIME_SCALE" --duration "$DURATION"
      --warmup "$WARMUP" --batch-items "$BATCH_ITEMS" --connections "$CONNECTIONS" --watch "server=$SERVER_PID" --watch "postgres=$PG_PID")
if [ "$JSON" = 1 ]; then
    mkdir -p "$(dirname "$RESULT")"
    EDGELLM_FLEET_ADMIN_KEY="$KEY" out/device/edgellm "${ARGS[@]}" --json > "$RESULT"
    cat "$RESULT"
else
    EDGELLM_FLEET_ADMIN_KEY="$KEY" out/device/edgellm "${ARGS[@]}"
fi
