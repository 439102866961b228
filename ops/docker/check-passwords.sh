# Sourced by the one-shot setup services: refuses a password that is empty, short, or holds a
# character that would need quoting in a URL, a DSN or a JSON body. Never prints the value.
#   check_passwords NAME...
MIN_PASSWORD_LENGTH=12

check_passwords() {
  local name value
  for name in "$@"; do
    value="${!name:-}"
    if [[ -z "$value" ]]; then
      echo "setup: $name is empty; set it in .env (e.g. openssl rand -hex 24)" >&2
      exit 1
    fi
    if ((${#value} < MIN_PASSWORD_LENGTH)); then
      echo "setup: $name is too short: $MIN_PASSWORD_LENGTH characters at least" >&2
      exit 1
    fi
    if [[ ! "$value" =~ ^[A-Za-z0-9._~-]+$ ]]; then
      echo "setup: $name may hold only A-Z a-z 0-9 . _ ~ - (it is placed in URLs and JSON)" >&2
      exit 1
    fi
  done
}
