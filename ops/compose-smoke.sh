#!/usr/bin/env bash
# `make compose-smoke`: the Docker Compose stack end to end, for operators on a machine with a
# Docker engine (the development machines and CI have none: there the suite validates the file
# with compose-go instead, carpark_dagster_tests/test_compose.py).
#
#   up (with a throw-away .env of generated passwords, unless CARPARK_SMOKE_ENV names one),
#   wait until every long-running service is healthy and the one-shots succeeded,
#   launch one tick, wait for it, count the documents in the index, look for the dashboard,
#   down -v (the smoke stack's volumes go with it).
#
# Usage: ops/compose-smoke.sh [--profile opensearch]
# It uses its own project name (carpark-smoke) but the file's fixed names: the network
# carpark_network and the volumes carpark_inbox, carpark_ca, carpark_dagster_storage. Do not
# run it on a host where the real stack runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v docker >/dev/null || { echo "compose-smoke: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "compose-smoke: no Docker engine answers (docker info)" >&2; exit 1; }

profile=elasticsearch
if [[ "${1:-}" == "--profile" ]]; then profile="${2:?--profile needs a name}"; fi
work=$(mktemp -d)
env_file="${CARPARK_SMOKE_ENV:-$work/.env}"
if [[ -z "${CARPARK_SMOKE_ENV:-}" ]]; then
  pw() { openssl rand -hex 20; }
  umask 077
  cat >"$env_file" <<ENV
COMPOSE_PROFILES=$profile
CARPARK_POSTGRES_PASSWORD=$(pw)
CARPARK_PIPELINE_DB_PASSWORD=$(pw)
CARPARK_DAGSTER_DB_PASSWORD=$(pw)
CARPARK_ES_PIPELINE_PASSWORD=$(pw)
CARPARK_DASHBOARDS_PASSWORD=$(pw)
ELASTIC_PASSWORD=$(pw)
KIBANA_PASSWORD=$(pw)
OPENSEARCH_ADMIN_PASSWORD=$(pw)
OPENSEARCH_DASHBOARDS_PASSWORD=$(pw)
DOCKER_GID=$(stat -c %g /var/run/docker.sock)
ENV
fi
compose=(docker compose -p carpark-smoke --env-file "$env_file" -f docker-compose.yaml --profile "$profile")
# shellcheck disable=SC1090
set -a; . "$env_file"; set +a

cleanup() {
  echo "[smoke] down"
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "[smoke] up ($profile): build, start"
"${compose[@]}" up -d --build

# Every long-running service healthy and every one-shot exited 0 (a one-shot that failed, or
# anything unhealthy after 15 minutes, fails the smoke test).
echo "[smoke] waiting until every service is healthy and every one-shot is done"
waited=0
while :; do
  states=$("${compose[@]}" ps -a --format '{{.Service}} {{.State}} {{.Health}} {{.ExitCode}}')
  pending=0
  while read -r service state health code; do
    case "$state" in
      exited)
        if [[ "$code" != 0 && "$health" != 0 ]]; then
          echo "[smoke] $service exited with an error:" >&2
          "${compose[@]}" logs --tail 30 "$service" >&2
          exit 1
        fi ;;
      running) [[ "$health" == healthy ]] || pending=1 ;;
      *) pending=1 ;;
    esac
  done <<<"$states"
  ((pending)) || break
  ((waited < 900)) || { echo "[smoke] not healthy after 900 s:" >&2; echo "$states" >&2; exit 1; }
  sleep 10; waited=$((waited + 10))
done
for one_shot in migrate db_roles dashboards; do
  grep -qE "^$one_shot exited( [a-z]*)? 0$" <<<"$states" || { echo "[smoke] $one_shot did not finish" >&2; exit 1; }
done

echo "[smoke] one tick"
"${compose[@]}" exec -T dagster_daemon dagster job launch -w workspace.yaml -j carpark_tick >/dev/null
waited=0
until "${compose[@]}" exec -T dagster_daemon python -c '
import sys, dagster as dg
from dagster._core.storage.dagster_run import DagsterRunStatus as S, RunsFilter
with dg.DagsterInstance.get() as i:
    runs = i.get_runs(RunsFilter(job_name="carpark_tick"), limit=1)
    sys.exit(0 if runs and runs[0].status == S.SUCCESS else 3 if runs and runs[0].status in (S.FAILURE, S.CANCELED) else 1)
'; do
  [[ $? -ne 3 ]] || { echo "[smoke] the tick failed: see the Dagster UI" >&2; exit 1; }
  ((waited < 900)) || { echo "[smoke] the tick did not finish within 900 s" >&2; exit 1; }
  sleep 10; waited=$((waited + 10))
done

echo "[smoke] documents in the index"
count=$("${compose[@]}" exec -T dagster_daemon python -c '
from carpark_dagster.settings import build_resources
search = build_resources(resolve=True)["search"]
with search.session_index() as index:
    print(index.count())
')
echo "[smoke] $count documents"
((count > 0)) || { echo "[smoke] the index is empty" >&2; exit 1; }

echo "[smoke] the dashboard"
ui=kibana; [[ "$profile" == opensearch ]] && ui=opensearch_dashboards
found=$("${compose[@]}" run --rm --no-deps -T -e CARPARK_DASHBOARDS_PASSWORD dashboards python -c '
import base64, json, os, ssl, urllib.request
context = ssl.create_default_context(cafile="/opt/dagster/ca/ca.crt")
login = "carpark_dashboards:" + os.environ["CARPARK_DASHBOARDS_PASSWORD"]
request = urllib.request.Request(
    "https://dashboards:5601/api/saved_objects/_find?type=dashboard",
    headers={"Authorization": "Basic " + base64.b64encode(login.encode()).decode(),
             "kbn-xsrf": "true", "osd-xsrf": "true"},
)
print(json.load(urllib.request.urlopen(request, context=context, timeout=30))["total"])
')
echo "[smoke] $found dashboard(s) in $ui"
((found > 0)) || { echo "[smoke] no dashboard was imported" >&2; exit 1; }
echo "[smoke] passed"
