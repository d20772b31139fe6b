#!/usr/bin/env bash
# A real PostgreSQL server from Debian's packages, on its own port and data directory.
#
#   scripts/postgres.sh install   install PostgreSQL from Debian's packages if missing
#   scripts/postgres.sh start     initialise once, start, create the role and database
#   scripts/postgres.sh stop      fast shutdown
#   scripts/postgres.sh kill      kill -9 the server, for crash tests (`start` recovers it)
#   scripts/postgres.sh status
#   scripts/postgres.sh reset     stop and delete this stack's data
#   scripts/postgres.sh url       print the DATABASE_URL for this stack
#
# STACK=dev|test|bench|chaos chooses port and data directory (see scripts/env.sh).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"

LOG_FILE="$PG_DIR.log"

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

install() {
  bindir >/dev/null && return 0
  log "installing PostgreSQL from Debian's packages"
  apt_install postgresql postgresql-contrib
  bindir >/dev/null || die "PostgreSQL binaries not found after installing"
}

# PostgreSQL will not run as root: run its tools as the 'postgres' system user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

is_running() {
  [ -f "$PG_DIR/PG_VERSION" ] && as_owner "$(bindir)/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1
}

psql_super() {
  PGPASSWORD="$PG_SUPERPASSWORD" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

init() {
  local bin
  bin="$(bindir)"
  log "initialising PostgreSQL data in $PG_DIR"
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR" "$(dirname "$PG_DIR")"
  chmod 700 "$PG_DIR"
  local pwfile
  pwfile="$(mktemp)"
  printf '%s\n' "$PG_SUPERPASSWORD" >"$pwfile"
  [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
  as_owner "$bin/initdb" -D "$PG_DIR" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null \
    || { rm -f "$pwfile"; die "initdb failed"; }
  rm -f "$pwfile"
  {
    echo "# complaint-platform settings for stack '$STACK'"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$PG_DIR'"
    echo "max_connections = 300"
    echo "shared_buffers = 256MB"
    echo "max_wal_size = 2GB"
    # Solid-state storage: a random read costs little more than a sequential one. With
    # the default (4) the planner reads the whole complaint_facts table for a quarter's
    # overview instead of the quarter's rows through the registered_day index.
    echo "random_page_cost = 1.1"
    echo "timezone = 'UTC'"
    echo "log_timezone = 'UTC'"
    echo "log_min_duration_statement = 2000"
    if [ "$STACK" = test ]; then
      # Test data is thrown away after each run; an OS crash losing it costs nothing.
      # A killed PostgreSQL process still loses no committed transaction.
      echo "fsync = off"
      echo "full_page_writes = off"
    fi
  } >>"$PG_DIR/postgresql.conf"
}

start() {
  install
  local bin
  bin="$(bindir)"
  if is_running; then
    local running_port
    running_port="$(sed -n 4p "$PG_DIR/postmaster.pid" 2>/dev/null)"
    [ -z "$running_port" ] || [ "$running_port" = "$PG_PORT" ] \
      || die "PostgreSQL of this stack already runs on port $running_port, not $PG_PORT: stop it first ($0 stop with PG_PORT=$running_port)"
    log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
  else
    need_free_port "$PG_PORT" "PostgreSQL of stack '$STACK' (PG_PORT)"
    [ -f "$PG_DIR/PG_VERSION" ] || init
    touch "$LOG_FILE"
    [ "$(id -u)" = 0 ] && chown postgres "$LOG_FILE"
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT (data $PG_DIR)"
    # The port of this start, whatever port the data directory was first made with.
    as_owner "$bin/pg_ctl" -D "$PG_DIR" -l "$LOG_FILE" -o "-p $PG_PORT" -w -t 60 start >/dev/null \
      || { tail -n 20 "$LOG_FILE" >&2; die "PostgreSQL did not start; see $LOG_FILE"; }
  fi
  PGPASSWORD="$PG_SUPERPASSWORD" psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE "$PG_USER" LOGIN PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE "$PG_DB" OWNER "$PG_USER"'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \gexec
SQL
  log "PostgreSQL is up: $PG_URL"
}

stop() {
  if is_running; then
    as_owner "$(bindir)/pg_ctl" -D "$PG_DIR" -m fast -w stop >/dev/null
    log "PostgreSQL stopped"
  else
    log "PostgreSQL is not running"
  fi
}

# kill -9 of the postmaster, as a crash would; its backends notice and exit (any still
# there after 10 s are killed too), so that `start` finds the port and shared memory free
# and recovers from the write-ahead log.
crash() {
  local pid children
  pid="$(head -n 1 "$PG_DIR/postmaster.pid" 2>/dev/null)" || true
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    log "PostgreSQL is not running"
    return 0
  fi
  children="$(pgrep -P "$pid" || true)"
  kill -KILL "$pid"
  local i
  for ((i = 0; i < 100; i++)); do
    local alive=""
    for c in $pid $children; do kill -0 "$c" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && { log "PostgreSQL killed (pid $pid)"; return 0; }
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $children 2>/dev/null || true
  log "PostgreSQL killed (pid $pid; its backends too)"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) if is_running; then echo "PostgreSQL running on 127.0.0.1:$PG_PORT"; else echo "PostgreSQL not running"; exit 3; fi ;;
  reset) if bindir >/dev/null; then stop; fi; rm -rf "$PG_DIR" "$LOG_FILE"; log "PostgreSQL data for stack '$STACK' removed" ;;
  url) echo "$PG_URL" ;;
  super-url) echo "$PG_SUPER_URL" ;;
  psql) shift; PGPASSWORD="$PG_PASSWORD" exec psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB" "$@" ;;
  *) echo "usage: $0 install|start|stop|kill|status|reset|url|super-url|psql" >&2; exit 2 ;;
esac
