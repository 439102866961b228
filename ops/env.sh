# Sourced by the ops scripts and the Makefile: the project's .env (if any), then the local
# services' defaults for whatever is still unset (`ops/services.sh env`: the DSN with the
# generated password, the search URL, PGPASSFILE). Never overrides a variable already set.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
if [[ -f "$ROOT/.env" ]]; then
  set -a
  # shellcheck disable=SC1091
  . "$ROOT/.env"
  set +a
fi
while IFS= read -r line; do
  name=${line#export }
  name=${name%%=*}
  [[ -n "${!name:-}" ]] || eval "$line"
done < <("$ROOT/ops/services.sh" env)
