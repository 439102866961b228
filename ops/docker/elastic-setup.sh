#!/usr/bin/env bash
# docker-compose.yaml's one-shot `setup` service, in the Elasticsearch image as root, after
# Elastic's documented Docker Compose recipe:
#   1. refuse empty or short passwords;
#   2. a CA and certificates for Elasticsearch and Kibana (elasticsearch-certutil), made once
#      into the es_certs volume; the CA's certificate alone is copied into carpark_ca for the
#      pipeline; then mark the service healthy, so Elasticsearch starts;
#   3. wait for Elasticsearch, set the kibana_system password, and create (or update) the
#      pipeline's role and user and the dashboards user.
# Run again at every `docker compose up`: every step is idempotent. Prints no secret.
set -euo pipefail
cd /usr/share/elasticsearch
# shellcheck source=check-passwords.sh
. "$(dirname "${BASH_SOURCE[0]}")/check-passwords.sh"
check_passwords ELASTIC_PASSWORD KIBANA_PASSWORD CARPARK_ES_PIPELINE_PASSWORD CARPARK_DASHBOARDS_PASSWORD

certs=config/certs
if [[ ! -f $certs/ca/ca.crt ]]; then
  echo "setup: creating the CA"
  bin/elasticsearch-certutil ca --silent --pem --days 3650 --out $certs/ca.zip
  unzip -oq $certs/ca.zip -d $certs
  rm -f $certs/ca.zip
fi
if [[ ! -f $certs/kibana/kibana.crt ]]; then
  echo "setup: creating the certificates of Elasticsearch and Kibana"
  # `search` and `dashboards` are the network aliases the pipeline uses.
  cat >$certs/instances.yml <<'YAML'
instances:
  - name: elasticsearch
    dns: [elasticsearch, search, localhost]
    ip: [127.0.0.1]
  - name: kibana
    dns: [kibana, dashboards, localhost]
    ip: [127.0.0.1]
YAML
  bin/elasticsearch-certutil cert --silent --pem --days 825 --in $certs/instances.yml \
    --ca-cert $certs/ca/ca.crt --ca-key $certs/ca/ca.key --out $certs/certs.zip
  unzip -oq $certs/certs.zip -d $certs
  rm -f $certs/certs.zip
fi
# Elasticsearch and Kibana run as uid 1000 in group 0: readable by the group, by no one else.
chown -R root:root $certs
find $certs -type d -exec chmod 750 {} +
find $certs -type f -exec chmod 640 {} +
install -m 644 $certs/ca/ca.crt /opt/carpark/ca/ca.crt
touch $certs/.ready

es() {
  # The password goes to curl on its standard input, not on its command line.
  local method=$1 path=$2 body=${3:-}
  printf 'user = "elastic:%s"\n' "$ELASTIC_PASSWORD" |
    curl -fsS -K - --cacert $certs/ca/ca.crt -X "$method" -H 'Content-Type: application/json' \
      "https://elasticsearch:9200$path" ${body:+-d "$body"} >/dev/null
}

echo "setup: waiting for Elasticsearch"
waited=0
until curl -s --cacert $certs/ca/ca.crt https://elasticsearch:9200 | grep -q "missing authentication credentials"; do
  if ((waited >= 600)); then
    echo "setup: Elasticsearch did not answer within 600 s" >&2
    exit 1
  fi
  sleep 5
  waited=$((waited + 5))
done

echo "setup: setting the kibana_system password"
es POST /_security/user/kibana_system/_password "{\"password\":\"$KIBANA_PASSWORD\"}"

echo "setup: the role and user carpark_pipeline (carpark-sessions*, frompostgresql* only)"
es PUT /_security/role/carpark_pipeline '{
  "cluster": ["monitor", "manage_index_templates"],
  "indices": [{"names": ["carpark-sessions*", "frompostgresql*"], "privileges": ["all"]}]
}'
es PUT /_security/user/carpark_pipeline \
  "{\"password\":\"$CARPARK_ES_PIPELINE_PASSWORD\",\"roles\":[\"carpark_pipeline\"]}"

echo "setup: the role and user carpark_dashboards (Kibana objects; reads the carpark indices)"
es PUT /_security/role/carpark_dashboards_read '{
  "indices": [{"names": ["carpark-sessions*", "frompostgresql*"], "privileges": ["read", "view_index_metadata"]}]
}'
es PUT /_security/user/carpark_dashboards \
  "{\"password\":\"$CARPARK_DASHBOARDS_PASSWORD\",\"roles\":[\"kibana_admin\",\"carpark_dashboards_read\"]}"
echo "setup: done"
