#!/usr/bin/env bash
# The object store for complaints' attachments: a real SeaweedFS with its S3 API, built
# from its Go module with the machine's Go and run as one process (master, volume server,
# filer and S3 gateway) on loopback. Intake speaks S3 to it as it would to any other.
#
#   scripts/objectstore.sh build    build SeaweedFS once (cached, shared by every clone)
#   scripts/objectstore.sh start    start it, wait until its S3 API answers, make the
#                                   bucket; does nothing if it already runs
#   scripts/objectstore.sh stop     shutdown (SIGTERM, then SIGKILL after 5 s)
#   scripts/objectstore.sh kill     kill -9, for crash tests
#   scripts/objectstore.sh status   running or not
#   scripts/objectstore.sh reset    stop and delete this stack's objects and keys
#   scripts/objectstore.sh env      the INTAKE_* settings that point intake at it
#
# STACK=dev|test|bench|chaos chooses ports and data directory (see scripts/env.sh). The S3
# gateway checks every request's signature against a key pair made at the first start
# (OBJECTSTORE_DIR/secrets, never in git): an unsigned or wrongly signed request is refused.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"

WEED="$SEAWEEDFS_CACHE/weed"
PID_FILE="$OBJECTSTORE_DIR/weed.pid"
LOG_FILE="$OBJECTSTORE_DIR/weed.log"
DATA_DIR="$OBJECTSTORE_DIR/data"
SECRETS="$OBJECTSTORE_DIR/secrets"
MODULE="github.com/seaweedfs/seaweedfs"

build() {
  [ -x "$WEED" ] && return 0
  [ -x "$GO" ] || die "Go is not installed: SeaweedFS is built from its Go module (install Go 1.26+, or set GO)"
  mkdir -p "$SEAWEEDFS_CACHE"
  local build_log="$SEAWEEDFS_CACHE/build.log"
  log "building SeaweedFS $SEAWEEDFS_VERSION from the Go module proxy into $SEAWEEDFS_CACHE (minutes, once; log $build_log)"
  # `go install module@version` refuses a module whose go.mod has replace directives, as
  # SeaweedFS's has: its module is fetched and built as the main module instead.
  local src
  src="$("$GO" mod download -json "$MODULE@$SEAWEEDFS_VERSION" 2>>"$build_log" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || true
  [ -n "$src" ] && [ -d "$src" ] || die "could not fetch $MODULE@$SEAWEEDFS_VERSION; see $build_log"
  local tmp="$WEED.tmp.$$"
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly "$GO" build -trimpath -ldflags="-s -w" -o "$tmp" ./weed) \
    >>"$build_log" 2>&1 || { rm -f "$tmp"; die "building SeaweedFS failed; see $build_log"; }
  mv "$tmp" "$WEED"
  log "built $("$WEED" version 2>/dev/null | head -n 1)"
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-dir=$DATA_DIR "; then
    echo "$pid"
    return 0
  fi
  return 1
}

# The identity intake signs in as, made once: an access key and its secret, and the S3
# gateway's configuration naming them (owner-only files).
credentials() {
  [ -s "$SECRETS/s3.json" ] && return 0
  (umask 077 && mkdir -p "$SECRETS")
  local key secret
  key="CP$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F')"
  secret="$(od -An -N30 -tx1 /dev/urandom | tr -d ' \n')"
  (
    umask 077
    printf '%s\n' "$key" >"$SECRETS/access_key"
    printf '%s\n' "$secret" >"$SECRETS/secret_key"
    cat >"$SECRETS/s3.json" <<JSON
{
  "identities": [
    {
      "name": "intake",
      "credentials": [{"accessKey": "$key", "secretKey": "$secret"}],
      "actions": ["Read", "Write", "List", "Tagging", "Admin:$OBJECTSTORE_BUCKET"]
    }
  ]
}
JSON
  )
}

# SeaweedFS's own admin shell, which talks to the master and the filer over gRPC (each on
# its HTTP port + 1, named as host:port.grpcport): it needs no S3 key.
weed_shell() {
  "$WEED" shell -connectTimeout=5s \
    -master="127.0.0.1:$OBJECTSTORE_MASTER_PORT.$((OBJECTSTORE_MASTER_PORT + 1))" \
    -filer="127.0.0.1:$OBJECTSTORE_FILER_PORT.$((OBJECTSTORE_FILER_PORT + 1))"
}

# The bucket, made when it is not there yet.
ensure_bucket() {
  local i out
  for ((i = 0; i < 30; i++)); do
    if out="$(echo "s3.bucket.list" | weed_shell 2>>"$LOG_FILE")"; then
      grep -qw -- "$OBJECTSTORE_BUCKET" <<<"$out" && return 0
      echo "s3.bucket.create -name $OBJECTSTORE_BUCKET" | weed_shell >>"$LOG_FILE" 2>&1 || true
    fi
    sleep 0.5
  done
  die "could not create bucket $OBJECTSTORE_BUCKET; see $LOG_FILE"
}

# Until the S3 gateway answers HTTP (403 to an unsigned request: it checks signatures).
wait_s3() {
  local i code
  for ((i = 0; i < 600; i++)); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$OBJECTSTORE_URL/" 2>/dev/null || true)"
    [ "$code" = 403 ] && return 0
    [ -n "$(running_pid)" ] || return 1
    sleep 0.1
  done
  return 1
}

start() {
  local pid
  if pid="$(running_pid)"; then
    log "object store already running (pid $pid) on $OBJECTSTORE_URL"
    ensure_bucket
    return 0
  fi
  command -v curl >/dev/null || apt_install curl
  build
  mkdir -p "$DATA_DIR"
  credentials
  local port
  for port in "$OBJECTSTORE_PORT" "$((OBJECTSTORE_PORT + 1))" "$OBJECTSTORE_MASTER_PORT" \
    "$((OBJECTSTORE_MASTER_PORT + 1))" "$OBJECTSTORE_VOLUME_PORT" "$((OBJECTSTORE_VOLUME_PORT + 1))" \
    "$OBJECTSTORE_FILER_PORT" "$((OBJECTSTORE_FILER_PORT + 1))"; do
    need_free_port "$port" "the object store of stack '$STACK' (OBJECTSTORE_PORT)"
  done
  local started
  started="$(date +%s.%N)"
  log "starting the object store (SeaweedFS) on $OBJECTSTORE_URL (data $DATA_DIR)"
  # One process for the four parts, on loopback only. No telemetry, no Iceberg or Lance
  # endpoints; small volumes (a test stack holds a few MB); no pause before stopping.
  # setsid: it must outlive the shell that started it and not get its signals.
  setsid nohup "$WEED" server -dir="$DATA_DIR" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$OBJECTSTORE_MASTER_PORT" -master.port.grpc="$((OBJECTSTORE_MASTER_PORT + 1))" \
    -master.volumeSizeLimitMB=64 -master.telemetry=false -master.electionTimeout=1s \
    -volume.port="$OBJECTSTORE_VOLUME_PORT" -volume.port.grpc="$((OBJECTSTORE_VOLUME_PORT + 1))" \
    -volume.max=0 -volume.preStopSeconds=0 \
    -filer -filer.port="$OBJECTSTORE_FILER_PORT" -filer.port.grpc="$((OBJECTSTORE_FILER_PORT + 1))" \
    -filer.localSocket="$OBJECTSTORE_DIR/filer.sock" \
    -s3 -s3.port="$OBJECTSTORE_PORT" -s3.port.grpc="$((OBJECTSTORE_PORT + 1))" \
    -s3.config="$SECRETS/s3.json" -s3.iam=false -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.localSocket="$OBJECTSTORE_DIR/s3.sock" \
    >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  wait_s3 || { tail -n 20 "$LOG_FILE" >&2; die "the object store did not start; see $LOG_FILE"; }
  ensure_bucket
  log "object store is up: $OBJECTSTORE_URL, bucket $OBJECTSTORE_BUCKET ($(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $started}") s)"
}

stop() {
  local pid i
  if ! pid="$(running_pid)"; then
    log "object store is not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  # The volume server closes its files at once; the filer then retries, for some 15 s,
  # flushing its log of metadata changes (for subscribers, not the data) to the volume
  # server that is gone. Nothing is lost by cutting that short.
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; log "object store stopped"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  log "object store stopped"
}

crash() {
  local pid
  if pid="$(running_pid)"; then
    kill -KILL "$pid"
    log "object store killed (pid $pid)"
  else
    log "object store is not running"
  fi
}

settings() {
  mkdir -p "$OBJECTSTORE_DIR"
  credentials
  echo "INTAKE_OBJECT_STORE=s3"
  echo "INTAKE_S3_ENDPOINT_URL=$OBJECTSTORE_URL"
  echo "INTAKE_S3_BUCKET=$OBJECTSTORE_BUCKET"
  echo "INTAKE_S3_ACCESS_KEY_ID=$(cat "$SECRETS/access_key")"
  echo "INTAKE_S3_SECRET_ACCESS_KEY=$(cat "$SECRETS/secret_key")"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) if pid="$(running_pid)"; then echo "object store running (pid $pid) on $OBJECTSTORE_URL"; else echo "object store not running"; exit 3; fi ;;
  reset) stop; rm -rf "$OBJECTSTORE_DIR"; log "object store data for stack '$STACK' removed" ;;
  env) settings ;;
  *) echo "usage: $0 build|start|stop|kill|status|reset|env" >&2; exit 2 ;;
esac
