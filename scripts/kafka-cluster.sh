#!/usr/bin/env bash
# A local Apache Kafka cluster of KAFKA_BROKERS KRaft nodes (3 by default), each broker
# and controller, on loopback: what the platform runs on in production, for trying out
# and testing what a broker's loss does. Topics get replication factor 3 (at most the
# number of nodes) and min.insync.replicas 2; unclean leader election is off.
#
#   scripts/kafka-cluster.sh start [N]    format storage once, start every node (or node N)
#                                         and create the topics; a running node is left as is
#   scripts/kafka-cluster.sh stop [N]     clean shutdown of every node (or node N)
#   scripts/kafka-cluster.sh kill N       kill -9 node N
#   scripts/kafka-cluster.sh pause N      SIGSTOP node N (resume N: SIGCONT), a node that hangs
#   scripts/kafka-cluster.sh status       which nodes run (exit 3 when some do not)
#   scripts/kafka-cluster.sh leader [TOPIC...]
#                                         each partition's leader node and in-sync replicas
#   scripts/kafka-cluster.sh bootstrap    the KAFKA_BOOTSTRAP_SERVERS for this cluster
#   scripts/kafka-cluster.sh reset        stop every node and delete the cluster's data
#
# Node i listens on KAFKA_CLUSTER_PORT+i-1 (clients) and KAFKA_CLUSTER_PORT+KAFKA_BROKERS+i-1
# (controllers); KAFKA_CLUSTER_PORT is KAFKA_PORT+10 of the STACK unless set (dev: 9102-9107).
# Its files are under KAFKA_CLUSTER_DIR/node-i. Each JVM gets KAFKA_CLUSTER_HEAP.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"

BROKERS="${KAFKA_BROKERS:-3}"
CLUSTER_PORT="${KAFKA_CLUSTER_PORT:-$((KAFKA_PORT + 10))}"
CLUSTER_DIR="${KAFKA_CLUSTER_DIR:-$RUN_DIR/kafka-cluster}"
HEAP="${KAFKA_CLUSTER_HEAP:--Xms128m -Xmx384m}"
REPLICATION=$((BROKERS < 3 ? BROKERS : 3))
MIN_INSYNC=$((REPLICATION > 1 ? REPLICATION - 1 : 1))
LIBS="$KAFKA_CACHE/libs"

case "$BROKERS" in '' | *[!0-9]* | 0) die "KAFKA_BROKERS must be a number of nodes, not '$BROKERS'" ;; esac

port_of() { echo $((CLUSTER_PORT + $1 - 1)); }
controller_port_of() { echo $((CLUSTER_PORT + BROKERS + $1 - 1)); }
node_dir() { echo "$CLUSTER_DIR/node-$1"; }
nodes() { seq 1 "$BROKERS"; }

bootstrap() {
  local i list=""
  for i in $(nodes); do list="$list${list:+,}127.0.0.1:$(port_of "$i")"; done
  echo "$list"
}

voters() {
  local i list=""
  for i in $(nodes); do list="$list${list:+,}$i@127.0.0.1:$(controller_port_of "$i")"; done
  echo "$list"
}

check_node() {
  case "${1:-}" in '' | *[!0-9]*) die "which node? 1 to $BROKERS" ;; esac
  [ "$1" -ge 1 ] && [ "$1" -le "$BROKERS" ] || die "no node $1: the nodes are 1 to $BROKERS"
}

running_pid() {  # node
  local pid_file pid
  pid_file="$(node_dir "$1")/broker.pid"
  [ -f "$pid_file" ] || return 1
  pid="$(cat "$pid_file")"
  # This node's JVM, not another cluster's that got the same pid after a reboot.
  if kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$(node_dir "$1")/server.properties"; then
    echo "$pid"
    return 0
  fi
  return 1
}

java_tool() {
  # A small, short-lived JVM: three of them may run beside the suite's own broker.
  java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.xml" \
    -cp "$LIBS/*" "$@"
}

configure() {  # node cluster-id
  local dir
  dir="$(node_dir "$1")"
  mkdir -p "$dir/data"
  sed -e "s|@NODE@|$1|g" -e "s|@VOTERS@|$(voters)|g" -e "s|@PORT@|$(port_of "$1")|g" \
    -e "s|@CONTROLLER_PORT@|$(controller_port_of "$1")|g" -e "s|@DATA_DIR@|$dir/data|g" \
    -e "s|@REPLICATION@|$REPLICATION|g" -e "s|@MIN_INSYNC@|$MIN_INSYNC|g" \
    "$ROOT/scripts/kafka/cluster.properties.in" >"$dir/server.properties"
  [ -f "$dir/data/meta.properties" ] \
    || java_tool kafka.tools.StorageTool format -t "$2" -c "$dir/server.properties" >>"$dir/broker.log" 2>&1
}

formatted() {  # node
  [ -f "$(node_dir "$1")/data/meta.properties" ]
}

cluster_id() {
  local file="$CLUSTER_DIR/cluster.id"
  if [ ! -s "$file" ]; then
    mkdir -p "$CLUSTER_DIR"
    # What Kafka's `random-uuid` prints (16 random bytes, base64url), without a JVM.
    python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))' >"$file"
  fi
  cat "$file"
}

launch() {  # node; prints the log offset to wait from
  local dir offset
  dir="$(node_dir "$1")"
  offset=$(($(stat -c %s "$dir/broker.log" 2>/dev/null || echo 0) + 1))
  # setsid: the node must outlive the shell that started it and not get its signals.
  # shellcheck disable=SC2086
  setsid nohup java $HEAP -XX:+UseG1GC -XX:+UseStringDeduplication -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.xml" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" >>"$dir/broker.log" 2>&1 </dev/null &
  echo $! >"$dir/broker.pid"
  echo "$offset"
}

wait_started() {  # node offset
  local dir pid i
  dir="$(node_dir "$1")"
  pid="$(cat "$dir/broker.pid")"
  for ((i = 0; i < 1200; i++)); do
    if tail -c +"$2" "$dir/broker.log" | grep -q 'Kafka Server started'; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$dir/broker.log" >&2
      die "node $1 exited during start; see $dir/broker.log"
    fi
    sleep 0.1
  done
  die "node $1 did not start within 120 s; see $dir/broker.log"
}

create_topics() {
  if [ -x "$PYTHON" ]; then
    KAFKA_BOOTSTRAP_SERVERS="$(bootstrap)" KAFKA_SECURITY_PROTOCOL=PLAINTEXT \
      TOPIC_REPLICATION_FACTOR="$REPLICATION" TOPIC_MIN_INSYNC_REPLICAS="$MIN_INSYNC" \
      "$PYTHON" -m shared.topics ensure
  else
    log "no virtualenv yet: topics not created (run 'make install', then '$0 start')"
  fi
}

start() {  # [node]
  local which id i
  which="$(if [ -n "${1:-}" ]; then check_node "$1" && echo "$1"; else nodes; fi)"
  "$ROOT/scripts/kafka.sh" fetch
  id="$(cluster_id)"
  # Formatted side by side (a JVM each); a node whose format failed there (a machine short
  # of memory for three JVMs at once) is tried once more on its own, then its log is shown.
  for i in $which; do running_pid "$i" >/dev/null || configure "$i" "$id" || true & done
  wait
  for i in $which; do
    running_pid "$i" >/dev/null || formatted "$i" || configure "$i" "$id" || true
    if ! running_pid "$i" >/dev/null && ! formatted "$i"; then
      tail -n 40 "$(node_dir "$i")/broker.log" >&2 || true
      die "formatting node $i's storage failed; see $(node_dir "$i")/broker.log"
    fi
  done
  local -A offsets=()
  for i in $which; do
    if pid="$(running_pid "$i")"; then
      log "node $i already running (pid $pid) on 127.0.0.1:$(port_of "$i")"
    else
      need_free_port "$(port_of "$i")" "node $i of the Kafka cluster"
      need_free_port "$(controller_port_of "$i")" "node $i's controller of the Kafka cluster"
      offsets[$i]="$(launch "$i")"
    fi
  done
  if [ ${#offsets[@]} -gt 0 ]; then
    log "starting Kafka $KAFKA_VERSION node(s) ${!offsets[*]} of $BROKERS (replication $REPLICATION, min.insync.replicas $MIN_INSYNC) in $CLUSTER_DIR"
  fi
  # A node's broker starts once the controllers have a quorum: start them all, then wait.
  for i in "${!offsets[@]}"; do
    wait_started "$i" "${offsets[$i]}"
    log "node $i is up (pid $(cat "$(node_dir "$i")/broker.pid")) on 127.0.0.1:$(port_of "$i")"
  done
  [ -n "${1:-}" ] || create_topics
}

stop_node() {  # node seconds
  local pid i
  pid="$(running_pid "$1")" || { rm -f "$(node_dir "$1")/broker.pid"; return 0; }
  log "stopping node $1 (pid $pid)"
  kill -CONT "$pid" 2>/dev/null || true  # a paused node cannot stop
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$(node_dir "$1")/broker.pid"; return 0; }
    sleep 0.1
  done
  log "node $1 did not stop within $2 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$(node_dir "$1")/broker.pid"
}

stop() {  # [node]
  local i
  if [ -n "${1:-}" ]; then
    check_node "$1"
    stop_node "$1" 60
    return 0
  fi
  # Side by side, and not for long: a node's clean shutdown asks the controllers' quorum,
  # which is gone once the others have stopped (its log is safe on disk all the same).
  for i in $(nodes); do stop_node "$i" 15 & done
  wait
  log "Kafka cluster stopped"
}

signal_node() {  # node signal verb
  local pid
  check_node "$1"
  pid="$(running_pid "$1")" || { log "node $1 is not running"; return 0; }
  kill "-$2" "$pid"
  if [ "$2" = KILL ]; then
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  fi
  log "node $1 $3 (pid $pid)"
}

status() {
  local i pid down=0
  for i in $(nodes); do
    if pid="$(running_pid "$i")"; then
      echo "node $i running (pid $pid) on 127.0.0.1:$(port_of "$i")"
    else
      echo "node $i not running"
      down=1
    fi
  done
  [ "$down" = 0 ] || exit 3
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  kill) signal_node "${2:-}" KILL killed ;;
  pause) signal_node "${2:-}" STOP paused ;;
  resume) signal_node "${2:-}" CONT resumed ;;
  restart) stop "${2:-}"; start "${2:-}" ;;
  status) status ;;
  leader)
    shift
    wanted=()
    for topic in "$@"; do wanted+=(--topic "$topic"); done
    KAFKA_BOOTSTRAP_SERVERS="$(bootstrap)" KAFKA_SECURITY_PROTOCOL=PLAINTEXT \
      "$PYTHON" -m shared.topics leaders "${wanted[@]}" ;;
  bootstrap) bootstrap ;;
  topics) create_topics ;;
  reset)
    # Its data goes, so no clean shutdown is owed to it.
    for i in $(nodes); do
      if pid="$(running_pid "$i")"; then kill -KILL "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; fi
    done
    rm -rf "$CLUSTER_DIR"; log "Kafka cluster data in $CLUSTER_DIR removed" ;;
  *) echo "usage: $0 start [N]|stop [N]|kill N|pause N|resume N|restart [N]|status|leader [TOPIC...]|bootstrap|topics|reset" >&2; exit 2 ;;
esac
