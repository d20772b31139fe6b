#!/usr/bin/env bash
# `make test`: lint, then the whole suite against a real Kafka broker, a real PostgreSQL and
# a real object store (SeaweedFS's S3 API), all started fresh for this run (STACK=test:
# ports 19092, 15433 and 18333) and stopped afterwards. Arguments go to pytest, e.g.
# scripts/test.sh -k outbox. KEEP_INFRA=1 reuses (and leaves running) all three.
#
# The broker has its SASL_SSL listener with ACLs too (KAFKA_SECURE=1, port 19094): most
# tests use the PLAINTEXT one, those of the secured broker sign in as the services.
set -euo pipefail
export STACK=test
# exported: tests that restart the broker (scripts/kafka.sh) keep the listener
export KAFKA_SECURE="${KAFKA_SECURE:-1}"
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ROOT"

command -v kcat >/dev/null || { log "installing kcat from Debian's packages"; apt_install kcat; }
# The analytics dashboard test opens the page in Debian's headless Chromium.
command -v chromium >/dev/null || { log "installing chromium from Debian's packages"; apt_install chromium; }
# and a Chinese font, so its screenshot shows the complaint text rather than boxes.
dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || { log "installing a Chinese font (fonts-wqy-zenhei)"; apt_install fonts-wqy-zenhei; }
"$ROOT/scripts/postgres.sh" install
"$ROOT/scripts/kafka.sh" fetch
"$ROOT/scripts/objectstore.sh" build

if [ "${KEEP_INFRA:-0}" != 1 ]; then
  "$ROOT/scripts/kafka.sh" reset 2>/dev/null
  "$ROOT/scripts/postgres.sh" reset 2>/dev/null
  "$ROOT/scripts/objectstore.sh" reset 2>/dev/null
  cleanup() {
    "$ROOT/scripts/kafka.sh" stop || true
    "$ROOT/scripts/postgres.sh" stop || true
    "$ROOT/scripts/objectstore.sh" stop || true
  }
  trap cleanup EXIT
fi
"$ROOT/scripts/postgres.sh" start
"$ROOT/scripts/kafka.sh" start
"$ROOT/scripts/objectstore.sh" start

log "lint: ruff check, format check and the type checker"
"$ROOT/.venv/bin/ruff" check .
"$ROOT/.venv/bin/ruff" format --check .
"$ROOT/.venv/bin/mypy"

export TEST_DATABASE_URL="$PG_URL"
export TEST_PG_SUPER_URL="$PG_SUPER_URL"
export KAFKA_BOOTSTRAP_SERVERS
export TEST_STACK=test
# The object store's address and key pair (tests marked objectstore): TEST_S3_ENDPOINT_URL…
while IFS='=' read -r name value; do
  export "TEST_${name#INTAKE_}=$value"
done < <("$ROOT/scripts/objectstore.sh" env)
if [ "$KAFKA_SECURE" = 1 ]; then
  export TEST_KAFKA_SECURE_BOOTSTRAP="$KAFKA_SECURE_BOOTSTRAP_SERVERS"
  export TEST_KAFKA_SECRETS="$KAFKA_SECRETS"
  export TEST_KAFKA_LOG="$KAFKA_DIR/broker.log"
fi
"$ROOT/.venv/bin/python" -m pytest "$@"
