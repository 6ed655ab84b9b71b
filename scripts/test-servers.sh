#!/usr/bin/env bash
# Prepares what the tests need beyond the machine's running services; idempotent.
#  - checks PostgreSQL, MariaDB, Redis and RabbitMQ on loopback (starts one that stopped)
#  - a second PostgreSQL cluster on 5433 that checks passwords (the main one trusts
#    every loopback connection, so a wrong password could not fail there)
#  - removes what earlier interrupted test runs left behind
set -euo pipefail
cd "$(dirname "$0")/.."
export PGOPTIONS="--client-min-messages=warning"

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_version=$(ls /etc/postgresql | sort -n | tail -1)
up 5432 || pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
up 3306 || start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
up 6379 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
up 5672 || rabbitmq-server -detached

if ! pg_lsclusters -h | awk '{print $2}' | grep -qx onramp_scram; then
  pg_createcluster "$pg_version" onramp_scram --port 5433 -- --auth-host=scram-sha-256 --auth-local=trust >/dev/null
fi
if ! pg_lsclusters -h | awk '$2=="onramp_scram" {print $4}' | grep -qx online; then
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" onramp_scram start
fi

# ClickHouse from Debian's packages, on its own loopback ports with the config kept in the repo.
if ! command -v clickhouse-server >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server >/dev/null
fi
if ! up 18123; then
  mkdir -p /var/lib/onramp-clickhouse/log
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /var/lib/onramp-clickhouse/server.pid \
    --exec "$(command -v clickhouse-server)" -- --config-file="$PWD/tests/servers/clickhouse/config.xml"
fi

# moto's S3 (and Glue, Athena) server, from PyPI in the project's virtualenv.
venv=/var/lib/onramp-venv
if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "moto[server]==5.*"
fi
if ! up 15000; then
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /var/lib/onramp-moto.pid \
    --exec "$venv/bin/python3" -- "$venv/bin/moto_server" -H 127.0.0.1 -p 15000
fi

# osmem-server (an OpenSearch API server, a Go binary inside a PyPI wheel) for elasticsearch/opensearch.
if [ ! -x "$venv/lib/python3.11/site-packages/osmem_server/bin/osmem-server" ]; then
  "$venv/bin/pip" install -q "osmem-server==0.1.6"
fi
if ! up 19200; then
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /var/lib/onramp-osmem.pid \
    --exec "$venv/lib/python3.11/site-packages/osmem_server/bin/osmem-server" -- -addr 127.0.0.1:19200 -no-stdin-watch
fi

for port in 5432 3306 6379 5672 5433 18123 15000 19200; do
  for _ in $(seq 1 60); do up "$port" && break; sleep 1; done
  up "$port" || { echo "service on port $port did not come up" >&2; exit 1; }
done

# Leftovers of interrupted runs: per-test databases, schemas, queues and exchanges.
psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT datname FROM pg_database WHERE datname ~ '^onramp_t[0-9a-f]{12}$'" |
  while read -r db; do psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"; done
psql -h 127.0.0.1 -U postgres -d test -Atc "SELECT nspname FROM pg_namespace WHERE nspname ~ '^s[0-9a-f]{12}$'" |
  while read -r s; do psql -h 127.0.0.1 -U postgres -d test -qc "DROP SCHEMA IF EXISTS \"$s\" CASCADE"; done
mariadb -uroot -N -e "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME REGEXP '^m[0-9a-f]{12}$'" |
  while read -r db; do mariadb -uroot -e "DROP DATABASE IF EXISTS \`$db\`"; done
rabbitmqctl -q list_queues name 2>/dev/null | grep -E '^t[0-9a-f]{12}\.' |
  while read -r q; do rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true; done
curl -s 'http://127.0.0.1:18123/' --data-binary "SELECT name FROM system.databases WHERE match(name, '^k[0-9a-f]{12}$')" |
  while read -r db; do curl -s 'http://127.0.0.1:18123/' --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null; done
