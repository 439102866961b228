#!/usr/bin/env bash
# `make test`: lint, the definitions check, then the whole suite against the real services. Starts the services that
# are not running yet and stops exactly those afterwards.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

mapfile -t before < <(ops/services.sh running)
started=()
for service in postgres opensearch; do
  [[ " ${before[*]} " == *" $service "* ]] || started+=("$service")
done
cleanup() {
  if [[ ${#started[@]} -gt 0 ]]; then ops/services.sh down "${started[@]}"; fi
}
trap cleanup EXIT
if [[ ${#started[@]} -gt 0 ]]; then ops/services.sh up "${started[@]}" >/dev/null; fi
source ops/env.sh

echo "[test] ruff"
.venv/bin/ruff format --check .
.venv/bin/ruff check .
echo "[test] dg check defs"
VIRTUAL_ENV="$ROOT/.venv" .venv/bin/dg check defs
echo "[test] pytest"
.venv/bin/pytest "$@"
