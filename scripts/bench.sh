#!/usr/bin/env bash
# `make bench`: the platform benchmarks against a real Kafka broker and a real
# PostgreSQL, both started fresh for this run (STACK=bench: ports 29092 and 15434, so
# a development stack or a test run is never disturbed) and stopped afterwards.
# Arguments go to `python -m bench`, e.g. scripts/bench.sh outbox --quick.
# KEEP_INFRA=1 reuses (and leaves running) the bench broker and database.
# Runs take turns: a second `make bench` in the same checkout waits for the first,
# rather than resetting the stack under it (and two runs at once measure nothing).
set -euo pipefail
export STACK=bench
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"

mkdir -p "$RUN_DIR"
exec 9>"$RUN_DIR/bench.lock"
if ! flock -n 9; then
  log "another benchmark run is using the bench stack; waiting for it to finish"
  flock 9
fi
# The broker and the database outlive their start scripts: they must not hold the lock.
infra() { "$ROOT/scripts/$1.sh" "$2" 9>&-; }

# The intake benchmark drives its HTTP load with wrk; the others run without it.
command -v wrk >/dev/null || (apt_install wrk) || log "wrk not installed: the intake benchmark cannot run"
infra postgres install
infra kafka fetch

if [ "${KEEP_INFRA:-0}" != 1 ]; then
  infra kafka reset 2>/dev/null
  infra postgres reset 2>/dev/null
  cleanup() {
    infra kafka stop || true
    infra postgres stop || true
  }
  trap cleanup EXIT
fi
infra postgres start
infra kafka start

export BENCH_DATABASE_URL="$PG_URL"
export BENCH_PG_SUPER_URL="$PG_SUPER_URL"
export KAFKA_BOOTSTRAP_SERVERS
export BENCH_STACK=bench
export KAFKA_VERSION
"$ROOT/.venv/bin/python" -m bench "$@" 9>&-
