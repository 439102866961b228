#!/usr/bin/env bash
# Local services for development and CI, without Docker:
#   - PostgreSQL from Debian's packages, a private cluster in the state directory;
#   - an OpenSearch node in a JVM, from Maven Central artifacts (ops/opensearch/pom.xml).
#
# Usage: ops/services.sh up|down [postgres|opensearch]... | status | env | running
#
# Everything lives under CARPARK_STATE_DIR (default: <repo>/.state, git-ignored).
# Both services listen on 127.0.0.1 only. `down` stops only the processes `up` started,
# by the pid each one recorded.
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

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

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
# directory holds a link to it.
pg_prepare_home() {
  mkdir -p "$STATE_DIR"
  if [[ -L "$PG_HOME" || -d "$PG_HOME" ]]; then return; fi
  mkdir -p "$PG_HOME"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$PG_HOME"
    if ! runuser -u postgres -- test -w "$PG_HOME"; then
      rmdir "$PG_HOME"
      local alt
      alt="/var/tmp/carpark-$(printf '%s' "$STATE_DIR" | sha1sum | cut -c1-12)/postgres"
      mkdir -p "$alt"
      chown postgres: "$alt" "$(dirname "$alt")"
      ln -s "$alt" "$PG_HOME"
      log "the postgres user cannot reach $STATE_DIR; cluster lives in $alt"
    fi
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
    log "creating a PostgreSQL cluster in $dir/data"
    # Loopback-only development cluster: trust authentication, no password to keep.
    as_pg_user "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
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
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

pg_bootstrap() {
  pg_psql -d postgres -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_APP_USER'" | grep -q 1 ||
    pg_psql -d postgres -c "CREATE ROLE $PG_APP_USER LOGIN CREATEDB CREATEROLE"
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

print_env() {
  cat <<EOF
export CARPARK_POSTGRES_DSN=postgresql://$PG_APP_USER@127.0.0.1:$PG_PORT/$PG_DB
export CARPARK_ES_URL=http://127.0.0.1:$SEARCH_PORT
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
    log "services are up; point the pipeline at them with:"
    print_env
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
