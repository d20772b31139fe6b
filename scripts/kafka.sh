#!/usr/bin/env bash
# A real Apache Kafka broker (single-node KRaft) for local runs and tests.
#
#   scripts/kafka.sh fetch    fetch the broker jars from Maven Central (cached, reused)
#   scripts/kafka.sh start    format storage once, start the broker, create the topics;
#                             does nothing if it already runs; after a crash it restarts
#                             on its old data
#   scripts/kafka.sh stop     clean shutdown (SIGTERM, then SIGKILL after 60 s)
#   scripts/kafka.sh kill     kill -9, for crash tests
#   scripts/kafka.sh status   running or not
#   scripts/kafka.sh reset    stop and delete this stack's broker data
#
# STACK=dev|test|bench|chaos chooses ports and data directory (see scripts/env.sh).
# KAFKA_SECURE=1 adds a SASL_SSL listener with ACLs beside the PLAINTEXT one: the local
# CA, the broker's certificate and the SCRAM principals' passwords go to KAFKA_SECRETS.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"

LIBS="$KAFKA_CACHE/libs"
PID_FILE="$KAFKA_DIR/broker.pid"
LOG_FILE="$KAFKA_DIR/broker.log"
DATA_DIR="$KAFKA_DIR/data"

fetch() {
  [ -f "$LIBS/.complete" ] && return 0
  command -v java >/dev/null || die "java is not installed (Kafka needs Java 17)"
  command -v mvn >/dev/null || apt_install maven
  log "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $LIBS"
  local tmp="$KAFKA_CACHE/libs.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  mvn -q -B -Dstyle.color=never -f "$ROOT/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >&2 \
    || { rm -rf "$tmp"; die "maven could not fetch Kafka $KAFKA_VERSION"; }
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || die "kafka jar missing after fetch"
  touch "$tmp/.complete"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka.Kafka'; then
    echo "$pid"
    return 0
  fi
  return 1
}

java_cmd() {
  # shellcheck disable=SC2086
  java $KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.xml" \
    -cp "$LIBS/*" "$@"
}

# A CA of this stack's own and a certificate for 127.0.0.1 and localhost that it signs,
# made once (kept across restarts, gone with `reset`). Kafka reads the key and chain as
# PEM; clients get only ca.pem. The CA's key signs this one certificate and is dropped.
certificates() {
  [ -s "$KAFKA_SECRETS/broker.pem" ] && [ -s "$KAFKA_SECRETS/ca.pem" ] && return 0
  command -v openssl >/dev/null || apt_install openssl
  log "making a local CA and the broker's TLS certificate in $KAFKA_SECRETS"
  local tmp="$KAFKA_SECRETS/tls.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (
    umask 077
    cd "$tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -keyout ca.key -out ca.pem \
      -subj "/CN=complaint-platform local CA ($STACK)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost"
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
      -extfile broker.ext -out broker.crt
    cat broker.key broker.crt ca.pem >broker.pem
  ) >>"$LOG_FILE" 2>&1 || { rm -rf "$tmp"; die "making the TLS certificates failed; see $LOG_FILE"; }
  chmod 644 "$tmp/ca.pem"
  mv "$tmp/ca.pem" "$tmp/broker.pem" "$KAFKA_SECRETS/"
  rm -rf "$tmp"
}

configure() {
  mkdir -p "$DATA_DIR"
  local secure_listener=""
  if [ "$KAFKA_SECURE" = 1 ]; then
    (umask 077 && mkdir -p "$KAFKA_SECRETS")
    certificates
    secure_listener=",SASL_SSL://127.0.0.1:$KAFKA_SECURE_PORT"
  fi
  sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@SECURE_LISTENER@|$secure_listener|g" \
    -e "s|@DATA_DIR@|$DATA_DIR|g" "$ROOT/scripts/kafka/server.properties.in" \
    >"$KAFKA_DIR/server.properties"
  if [ "$KAFKA_SECURE" = 1 ]; then
    sed -e "s|@SECRETS@|$KAFKA_SECRETS|g" "$ROOT/scripts/kafka/secure.properties.in" \
      >>"$KAFKA_DIR/server.properties"
  fi
  if [ ! -f "$DATA_DIR/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    log "formatting Kafka storage in $DATA_DIR (cluster $cluster_id)"
    java_cmd kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$KAFKA_DIR/server.properties" >>"$LOG_FILE" 2>&1 \
      || die "formatting Kafka storage failed; see $LOG_FILE"
  fi
}

# The topics, and with KAFKA_SECURE=1 the SCRAM principals (passwords made once into
# KAFKA_SECRETS) and their ACLs, over the PLAINTEXT listener, whose ANONYMOUS principal
# is a super user. One Python process: the broker restarts often in the tests.
create_topics() {
  if [ -x "$PYTHON" ]; then
    local secure=()
    [ "$KAFKA_SECURE" = 1 ] && secure=(users acls --secrets "$KAFKA_SECRETS")
    KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" KAFKA_SECURITY_PROTOCOL=PLAINTEXT \
      "$PYTHON" -m shared.topics ensure "${secure[@]}"
  else
    log "no virtualenv yet: topics not created (run 'make install', then 'scripts/kafka.sh start')"
  fi
}

start() {
  if pid="$(running_pid)"; then
    log "Kafka already running (pid $pid) on $KAFKA_BOOTSTRAP_SERVERS"
    if [ "$KAFKA_SECURE" = 1 ] && ! grep -q '^listeners=.*SASL_SSL' "$KAFKA_DIR/server.properties"; then
      die "this broker was started without KAFKA_SECURE=1: 'scripts/kafka.sh restart' adds its SASL_SSL listener"
    fi
    create_topics
    return 0
  fi
  fetch
  need_free_port "$KAFKA_PORT" "Kafka of stack '$STACK' (KAFKA_PORT)"
  need_free_port "$KAFKA_CONTROLLER_PORT" "Kafka's controller of stack '$STACK' (KAFKA_CONTROLLER_PORT)"
  [ "$KAFKA_SECURE" != 1 ] || need_free_port "$KAFKA_SECURE_PORT" "Kafka's SASL_SSL listener of stack '$STACK' (KAFKA_SECURE_PORT)"
  mkdir -p "$KAFKA_DIR"
  configure
  local offset
  offset=$(($(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0) + 1))
  log "starting Kafka $KAFKA_VERSION on $KAFKA_BOOTSTRAP_SERVERS$([ "$KAFKA_SECURE" = 1 ] && echo " and SASL_SSL $KAFKA_SECURE_BOOTSTRAP_SERVERS") (data $DATA_DIR)"
  # setsid: the broker must outlive the shell that started it and not get its signals.
  # shellcheck disable=SC2086
  setsid nohup java $KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.xml" \
    -cp "$LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local i
  for ((i = 0; i < 1200; i++)); do
    if tail -c +"$offset" "$LOG_FILE" | grep -q 'Kafka Server started'; then
      log "Kafka is up (pid $(cat "$PID_FILE"))"
      create_topics
      return 0
    fi
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      tail -n 30 "$LOG_FILE" >&2
      die "Kafka exited during start; see $LOG_FILE"
    fi
    sleep 0.1
  done
  die "Kafka did not start within 120 s; see $LOG_FILE"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "Kafka is not running"
    return 0
  fi
  log "stopping Kafka (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; log "Kafka stopped"; return 0; }
    sleep 0.1
  done
  log "Kafka did not stop within 60 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
}

crash() {
  local pid
  pid="$(running_pid)" || { log "Kafka is not running"; return 0; }
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  log "Kafka killed (pid $pid)"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  restart) stop; start ;;
  status)
    if pid="$(running_pid)"; then echo "Kafka running (pid $pid) on $KAFKA_BOOTSTRAP_SERVERS"; else echo "Kafka not running"; exit 3; fi ;;
  reset) stop; rm -rf "$KAFKA_DIR"; log "Kafka data for stack '$STACK' removed" ;;
  topics) create_topics ;;
  *) echo "usage: $0 fetch|start|stop|kill|restart|status|reset|topics" >&2; exit 2 ;;
esac
