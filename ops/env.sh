# Sourced by the ops scripts: the project's .env (if any), then the local services' defaults
# for whatever is still unset. Never overrides a variable that is already set.
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
