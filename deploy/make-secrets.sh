#!/bin/sh
# Makes the secrets a trial installation needs, in files git ignores, and never
# overwrites one that exists (the running system knows those):
#
#   deploy/k8s/secrets/*.env, kafka-ca.crt, kafka-tls.crt, kafka-tls.key
#                               read by kustomize (deploy/k8s/kustomization.yaml)
#   deploy/.env                 read by docker compose (deploy/compose.yaml); the broker's
#                               certificate is the one under deploy/k8s/secrets
#
# Passwords are random (letters and digits: they go into URLs and Kafka's bracketed
# credential lists as they are). The SMS provider's credentials cannot be made up: fill
# them in (deploy/k8s/secrets/sms-provider.env and deploy/.env) before starting.
# The Kafka certificate is signed by a CA made here, for the trial broker's names in the
# namespace given (default: complaints). A production installation takes its secrets
# from its own secret store instead (deploy/README.md).
#
#   deploy/make-secrets.sh [namespace]
set -eu

cd "$(dirname "$0")"
namespace="${1:-complaints}"
secrets=k8s/secrets
umask 077

password() {
  openssl rand -hex 24
}

# write <file>: the standard input becomes the file, unless it exists already.
write() {
  if [ -e "$1" ]; then
    echo "kept    $1"
    cat >/dev/null
  else
    cat >"$1"
    echo "made    $1"
  fi
}

for principal in admin topics intake escalation notify analytics; do
  eval "KAFKA_$(echo "$principal" | tr '[:lower:]' '[:upper:]')_PASSWORD=\$(password)"
done
POSTGRES_PASSWORD="$(password)"

# Values already in a file are kept, so the compose file and the manifests agree.
value() {
  sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1
}
[ -e $secrets/postgres.env ] && POSTGRES_PASSWORD="$(value $secrets/postgres.env POSTGRES_PASSWORD)"
for principal in admin topics intake escalation notify analytics; do
  upper="$(echo "$principal" | tr '[:lower:]' '[:upper:]')"
  if [ -e "$secrets/kafka-$principal.env" ]; then
    eval "KAFKA_${upper}_PASSWORD=\$(value $secrets/kafka-$principal.env KAFKA_SASL_PASSWORD)"
  fi
done

write $secrets/postgres.env <<EOF
POSTGRES_PASSWORD=$POSTGRES_PASSWORD
EOF
write $secrets/database.env <<EOF
DATABASE_URL=postgresql://complaints:$POSTGRES_PASSWORD@postgres:5432/complaints
EOF
for principal in admin topics intake escalation notify analytics; do
  upper="$(echo "$principal" | tr '[:lower:]' '[:upper:]')"
  eval "pw=\$KAFKA_${upper}_PASSWORD"
  write "$secrets/kafka-$principal.env" <<EOF
KAFKA_SASL_PASSWORD=$pw
EOF
done
# The object store's key pair: intake signs with it, the trial SeaweedFS checks it.
OBJECTSTORE_ACCESS_KEY_ID="CP$(openssl rand -hex 9 | tr '[:lower:]' '[:upper:]')"
OBJECTSTORE_SECRET_ACCESS_KEY="$(password)"
if [ -e $secrets/objectstore.env ]; then
  OBJECTSTORE_ACCESS_KEY_ID="$(value $secrets/objectstore.env INTAKE_S3_ACCESS_KEY_ID)"
  OBJECTSTORE_SECRET_ACCESS_KEY="$(value $secrets/objectstore.env INTAKE_S3_SECRET_ACCESS_KEY)"
fi
write $secrets/objectstore.env <<EOF
INTAKE_S3_ACCESS_KEY_ID=$OBJECTSTORE_ACCESS_KEY_ID
INTAKE_S3_SECRET_ACCESS_KEY=$OBJECTSTORE_SECRET_ACCESS_KEY
EOF
write $secrets/sms-provider.env <<EOF
NOTIFY_TWILIO_ACCOUNT_SID=
NOTIFY_TWILIO_AUTH_TOKEN=
EOF

if [ ! -e $secrets/kafka-ca.crt ] || [ ! -e $secrets/kafka-tls.key ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=complaint-platform trial Kafka CA" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
  openssl req -newkey rsa:3072 -nodes -subj "/CN=kafka" \
    -keyout "$tmp/tls.key" -out "$tmp/tls.csr" 2>/dev/null
  names="DNS:kafka,DNS:kafka.$namespace.svc,DNS:kafka-0.kafka.$namespace.svc"
  names="$names,DNS:kafka-0.kafka.$namespace.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$names" >"$tmp/ext"
  openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
    -CAcreateserial -days 825 -extfile "$tmp/ext" -out "$tmp/tls.crt" 2>/dev/null
  # Kafka reads an unencrypted PKCS#8 key.
  openssl pkcs8 -topk8 -nocrypt -in "$tmp/tls.key" -out "$tmp/tls.pk8"
  write $secrets/kafka-ca.crt <"$tmp/ca.crt"
  write $secrets/kafka-tls.crt <"$tmp/tls.crt"
  write $secrets/kafka-tls.key <"$tmp/tls.pk8"
  # The compose file's broker runs as the image's own user and reads these through a bind
  # mount, so they must be readable by others on this machine.
  chmod 644 $secrets/kafka-ca.crt $secrets/kafka-tls.crt $secrets/kafka-tls.key
else
  echo "kept    $secrets/kafka-ca.crt, kafka-tls.crt, kafka-tls.key"
fi

write .env <<EOF
POSTGRES_PASSWORD=$POSTGRES_PASSWORD
KAFKA_ADMIN_PASSWORD=$KAFKA_ADMIN_PASSWORD
KAFKA_TOPICS_PASSWORD=$KAFKA_TOPICS_PASSWORD
KAFKA_INTAKE_PASSWORD=$KAFKA_INTAKE_PASSWORD
KAFKA_ESCALATION_PASSWORD=$KAFKA_ESCALATION_PASSWORD
KAFKA_NOTIFY_PASSWORD=$KAFKA_NOTIFY_PASSWORD
KAFKA_ANALYTICS_PASSWORD=$KAFKA_ANALYTICS_PASSWORD
OBJECTSTORE_ACCESS_KEY_ID=$OBJECTSTORE_ACCESS_KEY_ID
OBJECTSTORE_SECRET_ACCESS_KEY=$OBJECTSTORE_SECRET_ACCESS_KEY
NOTIFY_TWILIO_ACCOUNT_SID=
NOTIFY_TWILIO_AUTH_TOKEN=
EOF

echo "fill in the SMS provider's credentials: $secrets/sms-provider.env and deploy/.env"
