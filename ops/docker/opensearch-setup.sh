#!/usr/bin/env bash
# docker-compose.yaml's OpenSearch profile, two one-shot steps:
#   certs     (service opensearch_certs, carpark image as root, openssl): refuse empty or short
#             passwords; make a CA, the node's certificate, the admin client certificate and
#             OpenSearch Dashboards' certificate, once, into the opensearch_certs volume; copy
#             the CA's certificate alone into carpark_ca for the pipeline.
#   security  (service opensearch_setup, OpenSearch image, after the node is healthy): with the
#             admin certificate, through the security REST API: set the admin and kibanaserver
#             passwords, delete the plugin's other default users (their passwords are public),
#             create the role and user carpark_pipeline (carpark-sessions*, frompostgresql* only)
#             and the user carpark_dashboards.
# Idempotent; prints no secret.
set -euo pipefail
# shellcheck source=check-passwords.sh
. "$(dirname "${BASH_SOURCE[0]}")/check-passwords.sh"
check_passwords OPENSEARCH_ADMIN_PASSWORD OPENSEARCH_DASHBOARDS_PASSWORD \
  CARPARK_ES_PIPELINE_PASSWORD CARPARK_DASHBOARDS_PASSWORD
certs=/opt/carpark/certs

make_cert() {
  # make_cert NAME SUBJECT [SUBJECT_ALT_NAMES]: a key (PKCS#8, as the plugin wants) and a
  # certificate signed by the CA.
  local name=$1 subject=$2 san=${3:-}
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$certs/$name-key.pem" 2>/dev/null
  openssl req -new -key "$certs/$name-key.pem" -subj "$subject" -out "$certs/$name.csr"
  if [[ -n "$san" ]]; then
    printf 'subjectAltName=%s\n' "$san" >"$certs/$name.ext"
  else
    : >"$certs/$name.ext"
  fi
  openssl x509 -req -in "$certs/$name.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca-key.pem" \
    -CAcreateserial -sha256 -days 825 -extfile "$certs/$name.ext" -out "$certs/$name.pem" 2>/dev/null
  rm -f "$certs/$name.csr" "$certs/$name.ext"
}

certs_step() {
  if [[ ! -f $certs/ca.pem ]]; then
    echo "setup: creating the CA"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out $certs/ca-key.pem 2>/dev/null
    openssl req -x509 -new -key $certs/ca-key.pem -subj "/O=carpark/CN=carpark-ca" -sha256 \
      -days 3650 -out $certs/ca.pem
  fi
  if [[ ! -f $certs/dashboards.pem ]]; then
    echo "setup: creating the certificates of the node, the admin and the dashboards"
    make_cert node "/CN=opensearch" "DNS:opensearch,DNS:search,DNS:localhost,IP:127.0.0.1"
    make_cert admin "/CN=carpark-admin"
    make_cert dashboards "/CN=opensearch-dashboards" \
      "DNS:opensearch_dashboards,DNS:dashboards,DNS:localhost,IP:127.0.0.1"
  fi
  # OpenSearch and its Dashboards run as uid 1000.
  chown -R 1000:0 $certs
  chmod 750 $certs
  find $certs -type f -exec chmod 640 {} +
  install -m 644 $certs/ca.pem /opt/carpark/ca/ca.crt
  echo "setup: certificates ready"
}

api() {
  local method=$1 path=$2 body=${3:-}
  curl -fsS --cacert $certs/ca.pem --cert $certs/admin.pem --key $certs/admin-key.pem \
    -X "$method" -H 'Content-Type: application/json' \
    "https://opensearch:9200/_plugins/_security/api$path" ${body:+-d "$body"} >/dev/null
}

security_step() {
  echo "setup: setting the admin and kibanaserver passwords"
  api PUT /internalusers/admin \
    "{\"password\":\"$OPENSEARCH_ADMIN_PASSWORD\",\"backend_roles\":[\"admin\"]}"
  api PUT /internalusers/kibanaserver "{\"password\":\"$OPENSEARCH_DASHBOARDS_PASSWORD\"}"
  local user
  for user in kibanaro logstash readall snapshotrestore anomalyadmin; do
    api DELETE "/internalusers/$user" 2>/dev/null || true
  done
  echo "setup: the role and user carpark_pipeline (carpark-sessions*, frompostgresql* only)"
  api PUT /roles/carpark_pipeline '{
    "cluster_permissions": ["cluster_monitor", "cluster:admin/component_template/*",
                            "indices:admin/index_template/*", "indices:admin/template/*"],
    "index_permissions": [{"index_patterns": ["carpark-sessions*", "frompostgresql*"],
                           "allowed_actions": ["indices_all"]}]
  }'
  api PUT /internalusers/carpark_pipeline "{\"password\":\"$CARPARK_ES_PIPELINE_PASSWORD\"}"
  api PUT /rolesmapping/carpark_pipeline '{"users": ["carpark_pipeline"]}'
  echo "setup: the role and user carpark_dashboards"
  api PUT /roles/carpark_dashboards_read '{
    "index_permissions": [{"index_patterns": ["carpark-sessions*", "frompostgresql*"],
                           "allowed_actions": ["read", "indices:admin/mappings/get"]}]
  }'
  api PUT /internalusers/carpark_dashboards "{\"password\":\"$CARPARK_DASHBOARDS_PASSWORD\"}"
  api PUT /rolesmapping/carpark_dashboards_read '{"users": ["carpark_dashboards"]}'
  api PUT /rolesmapping/kibana_user '{"users": ["carpark_dashboards"]}'
  echo "setup: done"
}

case "${1:-}" in
  certs) certs_step ;;
  security) security_step ;;
  *) echo "usage: $0 certs|security" >&2; exit 2 ;;
esac
