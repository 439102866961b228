#!/usr/bin/env bash
# `make run`: Dagster's webserver and daemon on 127.0.0.1:3000 against the local services, and
# the earnings dashboard page on 127.0.0.1:8080 (CARPARK_REPORTS_PORT).
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
export CARPARK_REPORTS_DIR="${CARPARK_REPORTS_DIR:-$DAGSTER_HOME/storage/reports}"
mkdir -p "$CARPARK_REPORTS_DIR"
reports_port="${CARPARK_REPORTS_PORT:-8080}"
# The dashboard page (docs/reporting.md), served read-only on loopback while Dagster runs.
.venv/bin/python -m http.server "$reports_port" --bind 127.0.0.1 --directory "$CARPARK_REPORTS_DIR" \
  >"$DAGSTER_HOME/reports-server.log" 2>&1 &
reports_pid=$!
trap 'kill "$reports_pid" 2>/dev/null || true' EXIT
echo "[run] Dagster UI: http://$host:$port  (Ctrl-C stops Dagster; 'make down' stops the services)"
echo "[run] earnings dashboard: http://127.0.0.1:$reports_port/latest.html  (after the first tick)"
echo "[run] gate events: ${CARPARK_SOURCE:-simulator}; gate files go in $CARPARK_INBOX_DIR (read when CARPARK_SOURCE is inbox or both)"
# Not exec'd, so the trap stops the page server when Dagster stops; Ctrl-C reaches Dagster
# directly (same foreground process group) and it shuts its webserver, daemon and code server down.
.venv/bin/dagster dev -w workspace.yaml -h "$host" -p "$port"
