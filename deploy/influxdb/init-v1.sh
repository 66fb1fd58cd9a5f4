#!/bin/sh
# One-shot step of deploy/compose.yaml, run by the influxdb-init service after InfluxDB 2.x
# has been set up (DOCKER_INFLUXDB_INIT_*): give wherry and Grafana the v1-compatible API
# (/write, /query, InfluxQL) that wherry speaks. Safe to run on every `up`:
#   - a DBRP mapping: database "wherry", retention policy "autogen" -> the bucket;
#   - v1 authorizations: "wherry" reads and writes the bucket, "grafana" only reads it.
#     Existing ones get their password set again, so changing it in .env takes effect.
set -eu

: "${INFLUX_HOST:?}" "${INFLUX_TOKEN:?}" "${INFLUX_ORG:?}" "${INFLUX_BUCKET:?}"
: "${INFLUX_WHERRY_PASSWORD:?}" "${INFLUX_GRAFANA_PASSWORD:?}"
database=wherry   # the database in WHERRY_STORE_URL and Grafana's data source

# The image's first start sets up org and bucket before serving on 8086; wait for it.
bucket_id=
tries=0
while [ -z "$bucket_id" ]; do
    bucket_id=$(influx bucket list --name "$INFLUX_BUCKET" --hide-headers 2>/dev/null | cut -f1)
    if [ -z "$bucket_id" ]; then
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then
            echo "influxdb-init: no bucket $INFLUX_BUCKET in org $INFLUX_ORG after 60 s" >&2
            exit 1
        fi
        sleep 1
    fi
done

if influx v1 dbrp list --db "$database" --hide-headers | grep -q .; then
    echo "influxdb-init: DBRP mapping for $database exists"
else
    influx v1 dbrp create --db "$database" --rp autogen --bucket-id "$bucket_id" --default
fi

v1_auth() {
    username=$1
    password=$2
    shift 2
    if influx v1 auth list --username "$username" --hide-headers | grep -q .; then
        influx v1 auth set-password --username "$username" --password "$password" >/dev/null
        echo "influxdb-init: v1 authorization $username exists; password set"
    else
        influx v1 auth create --username "$username" --password "$password" "$@" >/dev/null
        echo "influxdb-init: v1 authorization $username created"
    fi
}

v1_auth wherry "$INFLUX_WHERRY_PASSWORD" --read-bucket "$bucket_id" --write-bucket "$bucket_id"
v1_auth grafana "$INFLUX_GRAFANA_PASSWORD" --read-bucket "$bucket_id"
