#!/usr/bin/env bash
# `make run`: Dagster's webserver and daemon on 127.0.0.1:3000 against the local services.
# The schedule and the first-tick sensor are on by default: data shows within a minute.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source ops/env.sh
export DAGSTER_HOME="${DAGSTER_HOME:-${CARPARK_STATE_DIR:-$ROOT/.state}/dagster}"
mkdir -p "$DAGSTER_HOME"
export CARPARK_INBOX_DIR="${CARPARK_INBOX_DIR:-${CARPARK_STATE_DIR:-$ROOT/.state}/inbox}"
mkdir -p "$CARPARK_INBOX_DIR"
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
host="${CARPARK_DAGSTER_HOST:-127.0.0.1}"
port="${CARPARK_DAGSTER_PORT:-3000}"
echo "[run] Dagster UI: http://$host:$port  (Ctrl-C stops Dagster; 'make down' stops the services)"
echo "[run] gate events: ${CARPARK_SOURCE:-simulator}; gate files go in $CARPARK_INBOX_DIR (read when CARPARK_SOURCE is inbox or both)"
# exec: Dagster gets Ctrl-C directly and shuts its webserver, daemon and code server down.
exec .venv/bin/dagster dev -w workspace.yaml -h "$host" -p "$port"
