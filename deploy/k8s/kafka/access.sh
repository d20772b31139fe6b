#!/bin/sh
# Gives each principal of acls.txt its SCRAM password and its ACLs on the trial broker,
# signed in as admin (the Job kafka-access; the compose file's kafka-access). Safe to run
# again: a password is set anew, an ACL that is there already stays. An ACL removed from
# acls.txt stays on the broker until removed by hand (kafka-acls.sh --remove).
#
# Environment: KAFKA_BOOTSTRAP_SERVERS, KAFKA_SSL_CAFILE (the CA that signed the broker's
# certificate), and each principal's password, admin's among them: the file
# $KAFKA_PASSWORDS_DIR/<principal> (mounted Secrets), or else the variable
# KAFKA_<PRINCIPAL>_PASSWORD (KAFKA_INTAKE_PASSWORD, ...). Letters and digits only.
set -eu

: "${KAFKA_BOOTSTRAP_SERVERS:?}"
: "${KAFKA_SSL_CAFILE:?}"

# password_of <principal>: its password, or exit saying which is missing.
password_of() {
  variable="KAFKA_$(echo "$1" | tr '[:lower:]' '[:upper:]')_PASSWORD"
  if [ -n "${KAFKA_PASSWORDS_DIR:-}" ] && [ -r "$KAFKA_PASSWORDS_DIR/$1" ]; then
    secret="$(cat "$KAFKA_PASSWORDS_DIR/$1")"
  else
    eval "secret=\${$variable:-}"
  fi
  case "$secret" in
    "") echo "no password for $1: $variable or \$KAFKA_PASSWORDS_DIR/$1" >&2; exit 2 ;;
    *[!A-Za-z0-9]*) echo "the password of $1: letters and digits only" >&2; exit 2 ;;
  esac
  echo "$secret"
}
KAFKA_ADMIN_PASSWORD="$(password_of admin)"
KAFKA_HOME="${KAFKA_HOME:-/opt/kafka}"
ACLS="${KAFKA_ACLS:-/etc/kafka/access/acls.txt}"
work="${KAFKA_WORK_DIR:-/tmp/kafka-access}"

mkdir -p "$work"
umask 077
cat >"$work/admin.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_SSL_CAFILE
EOF
# A Kafka tool as admin: tool <name> <arguments>.
tool() {
  program="$1"
  shift
  "$KAFKA_HOME/bin/$program" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" \
    --command-config "$work/admin.properties" "$@" >/dev/null
}

rules="$(sed -e 's/#.*//' "$ACLS" | awk 'NF == 4')"

for principal in $(echo "$rules" | awk '{ print $1 }' | sort -u); do
  password="$(password_of "$principal")"
  tool kafka-configs.sh --alter --entity-type users --entity-name "$principal" \
    --add-config "SCRAM-SHA-512=[password=$password]"
  echo "principal $principal: password set"
done

# One call per principal and resource, with every operation granted on it.
echo "$rules" \
  | awk '{ key = $1 " " $3 " " $4; ops[key] = ops[key] " --operation " $2 }
         END { for (key in ops) print key ops[key] }' \
  | sort \
  | while read -r principal resource name operations; do
      # shellcheck disable=SC2086 # the operations are separate arguments
      tool kafka-acls.sh --add --allow-principal "User:$principal" \
        "--$resource" "$name" $operations
      echo "principal $principal: $resource $name:$(echo "$operations" | sed 's/--operation//g')"
    done
