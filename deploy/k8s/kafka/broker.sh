#!/bin/sh
# Starts the trial broker (kafka.yaml; the compose file's kafka) from server.properties:
# adds this node's listeners, writes the PEM key store from the TLS Secret, formats the
# storage on the first start with the admin principal's SCRAM credentials, then becomes
# the broker. The services' principals and their ACLs are set by access.sh, as admin.
#
# Environment: CLUSTER_ID, KAFKA_LISTENERS, KAFKA_ADVERTISED_LISTENERS,
# KAFKA_LISTENER_SECURITY_PROTOCOL_MAP, and the admin principal's password: the file
# $KAFKA_PASSWORDS_DIR/admin (a mounted Secret), or else KAFKA_ADMIN_PASSWORD (letters and
# digits: the storage tool reads it from a bracketed list). Files:
# $KAFKA_CONFIG_DIR/server.properties, $KAFKA_TLS_DIR/tls.key and tls.crt (the broker's
# key and certificate chain).
set -eu

: "${CLUSTER_ID:?a 22-character base64 cluster id}"
: "${KAFKA_LISTENERS:?}"
: "${KAFKA_ADVERTISED_LISTENERS:?}"
: "${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP:?}"
if [ -n "${KAFKA_PASSWORDS_DIR:-}" ]; then
  KAFKA_ADMIN_PASSWORD="$(cat "$KAFKA_PASSWORDS_DIR/admin")"
fi
: "${KAFKA_ADMIN_PASSWORD:?the admin principal password (Secret kafka-admin)}"
KAFKA_HOME="${KAFKA_HOME:-/opt/kafka}"
KAFKA_CONFIG_DIR="${KAFKA_CONFIG_DIR:-/etc/kafka/config}"
KAFKA_TLS_DIR="${KAFKA_TLS_DIR:-/etc/kafka/tls}"
# Written at every start, on a volume of the pod's own (the root file system is read-only).
work="${KAFKA_WORK_DIR:-/tmp/kafka}"

case "$KAFKA_ADMIN_PASSWORD" in
  *[!A-Za-z0-9]*) echo "KAFKA_ADMIN_PASSWORD may hold letters and digits only" >&2; exit 2 ;;
esac

mkdir -p "$work"
umask 077
# Kafka's PEM key store is one file: the private key (PKCS#8), then the certificate chain.
cat "$KAFKA_TLS_DIR/tls.key" "$KAFKA_TLS_DIR/tls.crt" >"$work/keystore.pem"
{
  cat "$KAFKA_CONFIG_DIR/server.properties"
  echo "listeners=$KAFKA_LISTENERS"
  echo "advertised.listeners=$KAFKA_ADVERTISED_LISTENERS"
  echo "listener.security.protocol.map=$KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"
  echo "ssl.keystore.location=$work/keystore.pem"
} >"$work/server.properties"

# Formats once; a formatted log directory is left as it is (and so are its credentials:
# change a password with kafka-configs.sh, as access.sh does for the services).
"$KAFKA_HOME/bin/kafka-storage.sh" format --ignore-formatted \
  --cluster-id "$CLUSTER_ID" \
  --config "$work/server.properties" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=$KAFKA_ADMIN_PASSWORD]"

exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$work/server.properties"
