# Shared settings for the local stacks, sourced by the other scripts.
#
# STACK picks one of four independent local environments, each with its own ports and
# data, so a running development stack and a test run never touch each other:
#   dev   — `make run`            Kafka 9092, PostgreSQL 15432, object store (S3) 8333
#   test  — `make test`           Kafka 19092 (and SASL_SSL 19094), PostgreSQL 15433, S3 18333
#   bench — `make bench`          Kafka 29092, PostgreSQL 15434, S3 28333
#   chaos — `make chaos` and the fault-injection test, whose broker is killed on purpose
#                                 Kafka 24092, PostgreSQL 15435, S3 23333
# Every port stays below 32768, outside the range the kernel hands out as the local end of
# outgoing connections: a broker or database started (or restarted after a kill) while the
# machine is busy must never find its port taken by some client's connection.
# Every value can be overridden from the environment.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="${STACK:-dev}"
case "$STACK" in
  dev)   _kport=9092;  _pgport=15432; _s3port=8333 ;;
  test)  _kport=19092; _pgport=15433; _s3port=18333 ;;
  bench) _kport=29092; _pgport=15434; _s3port=28333 ;;
  chaos) _kport=24092; _pgport=15435; _s3port=23333 ;;
  *) echo "unknown STACK '$STACK' (dev, test, bench or chaos)" >&2; exit 2 ;;
esac

RUN_DIR="${RUN_DIR:-$ROOT/.run/$STACK}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${KAFKA_PORT:-$_kport}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_DIR="${KAFKA_DIR:-$RUN_DIR/kafka}"
KAFKA_HEAP="${KAFKA_HEAP:--Xms256m -Xmx512m}"
# KAFKA_SECURE=1 adds a second listener beside the PLAINTEXT one: SASL_SSL (SCRAM-SHA-512
# over TLS) on KAFKA_SECURE_PORT, with ACLs; `make test` turns it on. Its CA, the broker's
# key and the principals' passwords are generated into KAFKA_SECRETS, never into git.
KAFKA_SECURE="${KAFKA_SECURE:-0}"
KAFKA_SECURE_PORT="${KAFKA_SECURE_PORT:-$((KAFKA_PORT + 2))}"
KAFKA_SECRETS="${KAFKA_SECRETS:-$KAFKA_DIR/secrets}"
# Jars live outside the repository and are shared by every clone and stack.
KAFKA_CACHE="${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/complaint-platform/kafka-$KAFKA_VERSION}"

PG_PORT="${PG_PORT:-$_pgport}"
PG_USER="${PG_USER:-complaints}"
PG_PASSWORD="${PG_PASSWORD:-complaints}"
PG_DB="${PG_DB:-complaints}"
PG_SUPERPASSWORD="${PG_SUPERPASSWORD:-postgres}"
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root; it runs as the 'postgres' system user, which
  # must be able to reach its data directory. A checkout under /root is not reachable,
  # so root keeps the data under /var/tmp, one directory per checkout and stack.
  _hash="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
  PG_DIR="${PG_DIR:-/var/tmp/complaint-platform/$_hash/$STACK/pg}"
else
  PG_DIR="${PG_DIR:-$RUN_DIR/pg}"
fi

# The object store for attachments: SeaweedFS, built from its Go module with the machine's
# Go (once; the binary is cached outside the repository like Kafka's jars) and run as one
# process: its S3 gateway on OBJECTSTORE_PORT, its master, volume server and filer on the
# ports below (each with its gRPC port one above). Intake signs every request with a key
# pair written into OBJECTSTORE_DIR/secrets at the first start.
SEAWEEDFS_VERSION="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
SEAWEEDFS_CACHE="${SEAWEEDFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/complaint-platform/seaweedfs/$SEAWEEDFS_VERSION}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
OBJECTSTORE_PORT="${OBJECTSTORE_PORT:-$_s3port}"
OBJECTSTORE_MASTER_PORT="${OBJECTSTORE_MASTER_PORT:-$((OBJECTSTORE_PORT + 1000))}"
OBJECTSTORE_VOLUME_PORT="${OBJECTSTORE_VOLUME_PORT:-$((OBJECTSTORE_PORT + 1007))}"
OBJECTSTORE_FILER_PORT="${OBJECTSTORE_FILER_PORT:-$((OBJECTSTORE_PORT + 555))}"
OBJECTSTORE_DIR="${OBJECTSTORE_DIR:-$RUN_DIR/objectstore}"
OBJECTSTORE_BUCKET="${OBJECTSTORE_BUCKET:-complaint-attachments}"
OBJECTSTORE_URL="http://127.0.0.1:$OBJECTSTORE_PORT"

KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
KAFKA_SECURE_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_SECURE_PORT"
PG_URL="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
PG_SUPER_URL="postgresql://postgres:$PG_SUPERPASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install Debian packages when missing (needs root or passwordless sudo).
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q "$@" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "$@" >/dev/null; } \
    || die "could not install Debian packages: $*"
}

# Refuse to start a server on a port something else holds, naming the port and its holder
# (a server of another checkout, or any program), rather than let it fail in its own log.
need_free_port() {  # port what
  local holder
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    holder="$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -n1 | sed 's/users:(("//; s/",pid=/, pid /')"
    die "port $1 for $2 is taken${holder:+ by $holder}: stop it, or choose another port (see scripts/env.sh)"
  fi
  if ss -Htn state established "( sport = :$1 )" 2>/dev/null | grep -q .; then
    die "port $1 for $2 is the local end of a connection: choose a port below 32768 (see scripts/env.sh)"
  fi
  return 0
}

wait_port() {  # host port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
