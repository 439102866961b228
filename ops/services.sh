#!/usr/bin/env bash
# Local services for development and CI, without Docker:
#   - PostgreSQL from Debian's packages, a private cluster in the state directory;
#   - an OpenSearch node in a JVM, from Maven Central artifacts (ops/opensearch/pom.xml).
#
# Usage: ops/services.sh up|down [postgres|opensearch]... | status | env | running
#
# Everything lives under CARPARK_STATE_DIR (default: <repo>/.state, git-ignored), which must be
# a directory of the invoking user's, not a symbolic link (else the script refuses). Both
# services listen on 127.0.0.1 only. PostgreSQL authenticates every role with scram-sha-256:
# the passwords are generated once into $CARPARK_STATE_DIR/secrets (mode 700; `env` prints the
# DSN with the carpark role's). `down` stops only the processes `up` started, by the pid each
# one recorded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${CARPARK_STATE_DIR:-$ROOT/.state}"
PG_PORT="${CARPARK_PG_PORT:-55432}"
PG_DB="carpark"
PG_APP_USER="carpark"
SEARCH_PORT="${CARPARK_SEARCH_PORT:-9250}"
SEARCH_HEAP="${CARPARK_SEARCH_HEAP:-1g}"
SEARCH_TIMEOUT="${CARPARK_SEARCH_TIMEOUT:-180}"

PG_HOME="$STATE_DIR/postgres"
OS_HOME="$STATE_DIR/opensearch"
SECRETS_DIR="$STATE_DIR/secrets"
PG_SUPERUSER_PASSWORD_FILE="$SECRETS_DIR/postgres.password"
PG_APP_PASSWORD_FILE="$SECRETS_DIR/$PG_APP_USER.password"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

# --------------------------------------------------------------------------- safe directories

# own_dir DIR [OWNER [MODE]]: DIR exists afterwards as a real directory (not a symbolic link)
# owned by OWNER (default: the invoking user). A directory that is already there is used only
# if it passes the same checks: in a shared place such as /var/tmp, another local user could
# have made it first, with links inside, to have this script hand their choice of directory
# to the postgres user. Created with `mkdir` (never -p), so no link on the way is followed.
own_dir() {
  local dir=$1 owner=${2:-} mode=${3:-755} uid
  uid=$(id -u)
  [[ -n "$owner" ]] && uid=$(id -u "$owner")
  if [[ -L "$dir" ]]; then
    die "$dir is a symbolic link; refusing to use it (remove it, or set CARPARK_STATE_DIR)"
  fi
  if [[ ! -e "$dir" ]]; then
    mkdir -m "$mode" -- "$dir" 2>/dev/null || die "cannot create $dir"
    if [[ -n "$owner" && "$uid" != "$(id -u)" ]]; then chown -h "$owner": -- "$dir"; fi
  fi
  [[ -d "$dir" && ! -L "$dir" ]] || die "$dir is not a directory; refusing to use it"
  if [[ "$(stat -c %u -- "$dir")" != "$uid" ]]; then
    die "$dir already exists and belongs to another user; refusing to use it (remove it, or set CARPARK_STATE_DIR)"
  fi
}

state_dir() {
  local parent
  parent=$(dirname -- "$STATE_DIR")
  [[ -d "$parent" ]] || mkdir -p -- "$parent"
  own_dir "$STATE_DIR"
  own_dir "$SECRETS_DIR" "" 700
}

# A password of 48 hex digits, made once into FILE (mode 600) and kept; printed on stdout.
password_file() {
  local file=$1
  if [[ -L "$file" ]]; then die "$file is a symbolic link; refusing to use it"; fi
  if [[ ! -s "$file" ]]; then
    (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$file.tmp" && mv -f -- "$file.tmp" "$file")
  fi
  cat -- "$file"
}

# --------------------------------------------------------------------------- PostgreSQL

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$d" || ! -x "$d/initdb" ]]; then
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL server binaries not found; install Debian's 'postgresql' package (sudo apt-get install postgresql)"
    log "installing PostgreSQL from Debian's packages (first run only)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$d"
}

# The server refuses to run as root: as root we run it as the unprivileged 'postgres' user.
as_pg_user() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# The cluster must be reachable by the user that runs it. When the checkout lies under a
# directory that user cannot enter (e.g. /root), the cluster goes to /var/tmp and the state
# directory holds a link to it. /var/tmp is shared with every local user: the directory there
# must be root's and not a link (own_dir, else refuse), and only the cluster's own folder
# inside it is the postgres user's.
pg_prepare_home() {
  state_dir
  if [[ -L "$PG_HOME" ]]; then
    # The link this script made (below): it must still point to a folder it would make.
    local target
    target=$(readlink -- "$PG_HOME")
    [[ "$target" == /var/tmp/carpark-*/postgres ]] ||
      die "$PG_HOME links outside /var/tmp/carpark-*; refusing to use it"
    own_dir "$(dirname -- "$target")"
    own_dir "$target" postgres 700
    return
  fi
  if [[ -d "$PG_HOME" ]]; then return; fi
  if [[ $(id -u) -eq 0 ]]; then
    own_dir "$PG_HOME" postgres 700
    if ! runuser -u postgres -- test -w "$PG_HOME"; then
      rmdir -- "$PG_HOME"
      local base
      base="/var/tmp/carpark-$(printf '%s' "$STATE_DIR" | sha1sum | cut -c1-12)"
      own_dir "$base" "" 755
      own_dir "$base/postgres" postgres 700
      ln -s -- "$base/postgres" "$PG_HOME"
      log "the postgres user cannot reach $STATE_DIR; cluster lives in $base/postgres"
    fi
  else
    own_dir "$PG_HOME" "" 700
  fi
}

# The cluster's real directory (the postgres user cannot follow a link it cannot reach).
pg_dir() { readlink -f "$PG_HOME"; }

pg_running() {
  [[ -f "$PG_HOME/data/postmaster.pid" ]] || return 1
  local pid
  pid=$(head -n 1 "$PG_HOME/data/postmaster.pid")
  kill -0 "$pid" 2>/dev/null
}

pg_up() {
  if pg_running; then
    log "PostgreSQL already running (pid $(head -n 1 "$PG_HOME/data/postmaster.pid"), port $PG_PORT)"
    pg_bootstrap
    return
  fi
  local bin dir
  bin=$(pg_bindir)
  pg_prepare_home
  dir=$(pg_dir)
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    log "creating a PostgreSQL cluster in $dir/data (scram-sha-256; passwords in $SECRETS_DIR)"
    # initdb reads the superuser's password from a file the cluster's user can read, deleted
    # right after.
    local pwfile="$dir/initdb.pw"
    (umask 077 && password_file "$PG_SUPERUSER_PASSWORD_FILE" >"$pwfile")
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$pwfile"; fi
    if ! as_pg_user "$bin/initdb" -D "$dir/data" -U postgres --auth=scram-sha-256 \
      --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
      rm -f -- "$pwfile"
      cat "$dir/initdb.log" >&2
      die "initdb failed"
    fi
    rm -f -- "$pwfile"
  fi
  if port_in_use "$PG_PORT"; then
    die "port $PG_PORT is already in use by another process; set CARPARK_PG_PORT to a free port"
  fi
  mkdir -p "$dir/run"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$dir/run"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # Bulk ticks write a lot of WAL: fewer, larger checkpoints and a bigger cache than the
  # defaults (a development cluster; deployments tune their own server).
  if ! as_pg_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$dir/run \
        -c shared_buffers=2GB -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_buffers=128MB" \
    start >/dev/null; then
    tail -n 30 "$dir/server.log" >&2 || true
    die "PostgreSQL did not start (log: $dir/server.log)"
  fi
  pg_bootstrap
}

pg_psql() {
  PGPASSWORD=$(password_file "$PG_SUPERUSER_PASSWORD_FILE") \
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

# pg_set_password ROLE VARIABLE: the role's password from an environment variable (psql's
# \getenv), so it appears on no command line; stored as a SCRAM-SHA-256 hash.
pg_set_password() {
  pg_psql -d postgres -v role="$1" -v var="$2" <<'SQL'
\getenv pw :var
SET password_encryption = 'scram-sha-256';
ALTER ROLE :"role" PASSWORD :'pw';
SQL
}

# A cluster made before passwords (trust authentication): give the superuser its password
# while trust still lets us in, then require scram-sha-256 from now on.
pg_upgrade_trust() {
  local hba
  hba="$(pg_dir)/data/pg_hba.conf"
  grep -qE '^[[:space:]]*(local|host)[[:space:]].*[[:space:]]trust[[:space:]]*$' "$hba" || return 0
  log "switching the cluster from trust to scram-sha-256 (passwords in $SECRETS_DIR)"
  pg_set_password postgres PGPASSWORD
  sed -i -E 's/[[:space:]]trust[[:space:]]*$/ scram-sha-256/' "$hba"
  as_pg_user "$(pg_bindir)/pg_ctl" -D "$(pg_dir)/data" reload >/dev/null
}

pg_bootstrap() {
  state_dir
  pg_upgrade_trust
  pg_psql -d postgres -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_APP_USER'" | grep -q 1 ||
    pg_psql -d postgres -c "CREATE ROLE $PG_APP_USER LOGIN CREATEDB CREATEROLE"
  # The application role's password, from its file at every `up` (never on a command line).
  CARPARK_APP_PASSWORD=$(password_file "$PG_APP_PASSWORD_FILE") \
    pg_set_password "$PG_APP_USER" CARPARK_APP_PASSWORD
  # Tests and benchmarks drop their scratch databases WITH (FORCE), which must also end an
  # autovacuum worker that happens to be in one: only pg_signal_backend may do that. The
  # PostgreSQL benchmark settles the server (CHECKPOINT) after filling a synthetic history.
  local role
  for role in pg_signal_backend pg_checkpoint; do
    pg_psql -d postgres -tA -c "SELECT pg_has_role('$PG_APP_USER', '$role', 'MEMBER')" |
      grep -q t || pg_psql -d postgres -c "GRANT $role TO $PG_APP_USER"
  done
  pg_psql -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1 ||
    pg_psql -d postgres -c "CREATE DATABASE $PG_DB OWNER $PG_APP_USER"
}

pg_down() {
  if ! pg_running; then
    log "PostgreSQL is not running"
    return
  fi
  log "stopping PostgreSQL (pid $(head -n 1 "$PG_HOME/data/postmaster.pid"))"
  as_pg_user "$(pg_bindir)/pg_ctl" -D "$(pg_dir)/data" -m fast -w -t 60 stop >/dev/null
}

# --------------------------------------------------------------------------- OpenSearch

os_pid() { cat "$OS_HOME/opensearch.pid" 2>/dev/null || true; }

os_running() {
  local pid
  pid=$(os_pid)
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

os_classpath() {
  local cp="$OS_HOME/classpath.txt" pom="$ROOT/ops/opensearch/pom.xml"
  if [[ ! -s "$cp" || "$pom" -nt "$cp" ]]; then
    command -v mvn >/dev/null || {
      [[ $(id -u) -eq 0 ]] || die "Maven not found; install it (sudo apt-get install maven)"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >&2
    }
    log "resolving the OpenSearch classpath with Maven (downloads once into ~/.m2)"
    mvn -B -q -f "$pom" dependency:build-classpath -Dmdep.outputFile="$cp.tmp" >"$OS_HOME/maven.log" 2>&1 ||
      { tail -n 30 "$OS_HOME/maven.log" >&2; die "Maven could not resolve the OpenSearch node (log: $OS_HOME/maven.log)"; }
    mv "$cp.tmp" "$cp"
  fi
  echo "$cp"
}

os_java() {
  if [[ -n "${JAVA_HOME:-}" ]]; then echo "$JAVA_HOME/bin/java"; return; fi
  command -v java >/dev/null || die "no Java runtime found; install a JDK 17+ and set JAVA_HOME"
  command -v java
}

os_health() {
  command -v curl >/dev/null || die "curl is needed to check the search node; install it (apt-get install curl)"
  curl -fsS --max-time 5 "http://127.0.0.1:$SEARCH_PORT/_cluster/health" 2>/dev/null
}

os_up() {
  if os_running; then
    log "OpenSearch already running (pid $(os_pid), port $SEARCH_PORT)"
    return
  fi
  # The runner picks the node's HTTP port above its base port, within 9201..9299.
  ((SEARCH_PORT >= 9201 && SEARCH_PORT <= 9299)) || die "CARPARK_SEARCH_PORT must be within 9201..9299 (got $SEARCH_PORT)"
  if port_in_use "$SEARCH_PORT"; then
    die "port $SEARCH_PORT is already in use by another process; set CARPARK_SEARCH_PORT to a free port in 9201..9299"
  fi
  state_dir
  own_dir "$OS_HOME"
  mkdir -p "$OS_HOME/node/node_1/config"
  local cp java
  cp=$(os_classpath)
  java=$(os_java)
  # A development node on a developer's disk: do not turn indices read-only when the disk fills.
  # A node of its own: never discover or join another checkout's node on this machine.
  cat >"$OS_HOME/node/node_1/config/opensearch.yml" <<'YAML'
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: false
discovery.type: single-node
YAML
  log "starting OpenSearch on 127.0.0.1:$SEARCH_PORT (heap $SEARCH_HEAP)"
  # setsid: the node outlives the shell that started it, and Ctrl-C in `make run` does not reach it.
  setsid "$java" -Xms"$SEARCH_HEAP" -Xmx"$SEARCH_HEAP" -Djava.awt.headless=true \
    -cp "$(cat "$cp")" org.codelibs.opensearch.runner.OpenSearchRunner \
    -basePath "$OS_HOME/node" -numOfNode 1 -baseHttpPort $((SEARCH_PORT - 1)) \
    -clusterName carpark-dev -printOnFailure \
    </dev/null >"$OS_HOME/opensearch.log" 2>&1 &
  echo $! >"$OS_HOME/opensearch.pid"
  local waited=0
  until os_health | grep -qE '"status":"(yellow|green)"'; do
    if ! os_running; then
      tail -n 40 "$OS_HOME/opensearch.log" >&2 || true
      rm -f "$OS_HOME/opensearch.pid"
      die "OpenSearch exited during start-up (log: $OS_HOME/opensearch.log)"
    fi
    if ((waited >= SEARCH_TIMEOUT)); then
      tail -n 40 "$OS_HOME/opensearch.log" >&2 || true
      os_down
      die "OpenSearch was not healthy after ${SEARCH_TIMEOUT}s (log: $OS_HOME/opensearch.log)"
    fi
    sleep 2
    waited=$((waited + 2))
  done
  log "OpenSearch is up after ~${waited}s (pid $(os_pid))"
}

os_down() {
  if ! os_running; then
    log "OpenSearch is not running"
    rm -f "$OS_HOME/opensearch.pid"
    return
  fi
  local pid waited=0
  pid=$(os_pid)
  log "stopping OpenSearch (pid $pid)"
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= 60)); then
      log "OpenSearch did not stop after 60s; killing it"
      kill -9 "$pid" 2>/dev/null || true
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$OS_HOME/opensearch.pid"
}

# --------------------------------------------------------------------------- helpers

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The variables that point the pipeline, the tests and psql at these services: the DSN carries
# the carpark role's generated password (hex digits: nothing to escape); PGPASSFILE lets plain
# libpq tools in too.
print_env() {
  local password="" pgpass="$SECRETS_DIR/pgpass"
  if [[ -s "$PG_APP_PASSWORD_FILE" && ! -L "$PG_APP_PASSWORD_FILE" ]]; then
    password=$(cat -- "$PG_APP_PASSWORD_FILE")
  fi
  cat <<EOF
export CARPARK_POSTGRES_DSN=postgresql://$PG_APP_USER${password:+:$password}@127.0.0.1:$PG_PORT/$PG_DB
export CARPARK_ES_URL=http://127.0.0.1:$SEARCH_PORT
EOF
  if [[ -n "$password" && ! -L "$pgpass" ]]; then
    (umask 077 && printf '127.0.0.1:%s:*:%s:%s\n' "$PG_PORT" "$PG_APP_USER" "$password" >"$pgpass")
    echo "export PGPASSFILE=$pgpass"
  fi
}

# What `up` prints: how to connect, without showing a password.
print_connect() {
  cat >&2 <<EOF
[services] connect with:
  source <(ops/services.sh env)   # CARPARK_POSTGRES_DSN (with the password), CARPARK_ES_URL, PGPASSFILE
  psql "\$CARPARK_POSTGRES_DSN"
  curl http://127.0.0.1:$SEARCH_PORT/_cluster/health
[services] passwords: $PG_APP_PASSWORD_FILE (role $PG_APP_USER),
           $PG_SUPERUSER_PASSWORD_FILE (superuser postgres); make run and make test read them
EOF
}

status() {
  local rc=0
  if pg_running; then
    echo "postgres:   running (pid $(head -n 1 "$PG_HOME/data/postmaster.pid"), 127.0.0.1:$PG_PORT)"
  else
    echo "postgres:   stopped"
    rc=1
  fi
  if os_running; then
    local health
    health=$(os_health | sed -E 's/.*"status":"([a-z]+)".*/\1/' || true)
    echo "opensearch: running (pid $(os_pid), 127.0.0.1:$SEARCH_PORT, health ${health:-unreachable})"
  else
    echo "opensearch: stopped"
    rc=1
  fi
  return $rc
}

running() {
  pg_running && echo postgres
  os_running && echo opensearch
  return 0
}

usage() {
  echo "usage: $0 up|down [postgres|opensearch]... | status | env | running" >&2
  exit 2
}

command="${1:-}"
shift || true
services=("$@")
[[ ${#services[@]} -gt 0 ]] || services=(postgres opensearch)
for s in "${services[@]}"; do [[ "$s" == postgres || "$s" == opensearch ]] || usage; done

case "$command" in
  up)
    for s in "${services[@]}"; do
      case "$s" in postgres) pg_up ;; opensearch) os_up ;; esac
    done
    log "services are up"
    print_connect
    ;;
  down)
    for s in "${services[@]}"; do
      case "$s" in postgres) pg_down ;; opensearch) os_down ;; esac
    done
    ;;
  status) status ;;
  running) running ;;
  env) print_env ;;
  *) usage ;;
esac
