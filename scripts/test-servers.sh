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

# Stand-ins from PyPI, each in its own virtualenv (their pins conflict):
#  - fakesnow speaks Snowflake's connector protocol (login-request, query-request, Arrow results)
#  - bqemulator serves BigQuery's REST API; it loads DuckDB's spatial extension at start and
#    cannot download it here, so the copy from the duckdb-extension-spatial wheel is put
#    where DuckDB looks first
#  - nx-27017 speaks MongoDB's wire protocol over SQLite
venv_for() { # venv_for DIR CHECK-FILE PACKAGES...
  local dir=$1 check=$2; shift 2
  if [ ! -e "$dir/$check" ]; then
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q "$@"
  fi
}
venv_for /var/lib/onramp-fakesnow bin/fakesnow "fakesnow[server]==0.12.*" "snowflake-connector-python<5"
venv_for /var/lib/onramp-bqemu bin/bqemulator "bqemulator==1.4.*" numpy duckdb==1.5.5 duckdb-extension-spatial==1.5.5
venv_for /var/lib/onramp-nx bin/nx-27017 "nx-27017==0.8.*"
# SQLAlchemy 2's Inspector: the reference the discovery fidelity tests compare with.
venv_for /var/lib/onramp-sqla lib/python3.11/site-packages/pymysql "sqlalchemy==2.0.*" "psycopg2-binary==2.9.*" "pymysql==1.1.*"
# Standard Webhooks and CloudEvents for tests/servers/webhooks/receiver.py (the tests start
# it themselves), jsonschema and PyYAML for tests/servers/asyncapi/check_events.py. The
# stamp names the pins: changing them installs again.
webhooks_pins="standardwebhooks==1.1.0 cloudevents==1.13.0 jsonschema==4.26.0 pyyaml==6.0.4"
if [ "$(cat /var/lib/onramp-webhooks/.pins 2>/dev/null)" != "$webhooks_pins" ]; then
  python3 -m venv /var/lib/onramp-webhooks
  # shellcheck disable=SC2086 # one word per pin
  /var/lib/onramp-webhooks/bin/pip install -q $webhooks_pins
  echo "$webhooks_pins" > /var/lib/onramp-webhooks/.pins
fi
spatial_dir="$HOME/.duckdb/extensions/v1.5.5/linux_amd64"
if [ ! -e "$spatial_dir/spatial.duckdb_extension" ]; then
  mkdir -p "$spatial_dir"
  cp /var/lib/onramp-bqemu/lib/python3.11/site-packages/duckdb_extension_spatial/extensions/v1.5.5/spatial.duckdb_extension "$spatial_dir/"
fi
if ! up 18090; then
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /var/lib/onramp-fakesnow.pid \
    --exec /var/lib/onramp-fakesnow/bin/python3 -- /var/lib/onramp-fakesnow/bin/fakesnow -s --port 18090
fi
if ! up 19050; then
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /var/lib/onramp-bqemu.pid \
    --exec /var/lib/onramp-bqemu/bin/python3 -- /var/lib/onramp-bqemu/bin/bqemulator start \
    --rest-port 19050 --grpc-port 19060 --project onramp-test
fi
if ! up 17017; then
  mkdir -p /var/lib/onramp-nx/data
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /var/lib/onramp-nx.pid \
    --exec /var/lib/onramp-nx/bin/python3 -- /var/lib/onramp-nx/bin/nx-27017 --data-dir /var/lib/onramp-nx/data \
    -p 17017 --log-file /var/lib/onramp-nx/server.log --pid-file /var/lib/onramp-nx/server.pid
fi

# OpenSSH from Debian's packages, as the bastion for tunnel tests: its own config,
# host keys and users on 127.0.0.1:2222 (tests start more instances of it on their
# own ports). Client keys of every kind the tunnel reads, made by ssh-keygen.
sshd_dir=/var/lib/onramp-sshd
if [ ! -x /usr/sbin/sshd ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null
fi
mkdir -p "$sshd_dir/keys" /run/sshd
for k in ssh_host_ed25519_key ssh_host_alt_key; do
  [ -e "$sshd_dir/$k" ] || ssh-keygen -q -t ed25519 -N '' -C onramp-bastion -f "$sshd_dir/$k"
done
[ -e "$sshd_dir/id_rsa" ] || ssh-keygen -q -t rsa -b 3072 -m PEM -N '' -C onramp-rsa -f "$sshd_dir/id_rsa"
[ -e "$sshd_dir/id_ecdsa" ] || ssh-keygen -q -t ecdsa -b 256 -N '' -C onramp-ecdsa -f "$sshd_dir/id_ecdsa"
[ -e "$sshd_dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C onramp-ed25519 -f "$sshd_dir/id_ed25519"
[ -e "$sshd_dir/id_ed25519_enc" ] || ssh-keygen -q -t ed25519 -N 'onramp-passphrase' -C onramp-enc -f "$sshd_dir/id_ed25519_enc"
[ -e "$sshd_dir/id_stranger" ] || ssh-keygen -q -t ed25519 -N '' -C onramp-stranger -f "$sshd_dir/id_stranger"
for u in onramp_tpw onramp_tkey onramp_tboth; do
  id "$u" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin "$u"
done
# A key-only user's password is "*" (none), not "!" (locked: sshd refuses it).
usermod -p '*' onramp_tkey
echo 'onramp_tpw:onramp-pw' | chpasswd
echo 'onramp_tboth:onramp-both' | chpasswd
cat "$sshd_dir"/id_rsa.pub "$sshd_dir"/id_ecdsa.pub "$sshd_dir"/id_ed25519.pub "$sshd_dir"/id_ed25519_enc.pub > "$sshd_dir/keys/onramp_tkey"
cp "$sshd_dir/id_ed25519.pub" "$sshd_dir/keys/onramp_tboth"
cat > "$sshd_dir/sshd_config" <<CONF
Port 2222
ListenAddress 127.0.0.1
HostKey $sshd_dir/ssh_host_ed25519_key
PidFile $sshd_dir/sshd.pid
AuthorizedKeysFile $sshd_dir/keys/%u
StrictModes no
UsePAM no
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AllowUsers onramp_tpw onramp_tkey onramp_tboth
AllowTcpForwarding yes
ClientAliveInterval 0
MaxStartups 100:30:200
MaxSessions 100
Match User onramp_tpw
  AuthenticationMethods password
  PermitOpen 127.0.0.1:5432 127.0.0.1:5433 127.0.0.1:3306 127.0.0.1:18123 localhost:5432
Match User onramp_tkey
  AuthenticationMethods publickey
Match User onramp_tboth
  AuthenticationMethods publickey,password
CONF
if ! up 2222; then
  /usr/sbin/sshd -t -f "$sshd_dir/sshd_config"
  start-stop-daemon --start --oknodo --background --pidfile "$sshd_dir/sshd.pid" --exec /usr/sbin/sshd -- -D -f "$sshd_dir/sshd_config"
fi

# TLS: certificates made by tests/servers/tls/make_certs.py (a CA, another CA, a
# server certificate for "localhost" only, an expired one, client certificates), then
# PostgreSQL clusters with SSL on (5434; 5435 presenting the expired certificate;
# 5436 with SSL off) and a MariaDB with SSL on (3307), each with a user that must
# present a client certificate.
tls_dir=/var/lib/onramp-tls
if [ ! -e "$tls_dir/ca.pem" ]; then
  "$venv/bin/python3" tests/servers/tls/make_certs.py "$tls_dir"
fi
chmod 0644 "$tls_dir"/*.pem "$tls_dir"/*.key
install -d -o postgres -g postgres -m 0700 "$tls_dir/pg"
install -d -o mysql -g mysql -m 0700 "$tls_dir/mariadb"
for f in ca.pem server.pem server.key expired.pem expired.key; do
  install -o postgres -g postgres -m 0600 "$tls_dir/$f" "$tls_dir/pg/$f"
  install -o mysql -g mysql -m 0600 "$tls_dir/$f" "$tls_dir/mariadb/$f"
done
pg_tls_cluster() { # NAME PORT CERT-STEM SSL
  local name=$1 port=$2 cert=$3 ssl=$4 conf="/etc/postgresql/$pg_version/$1"
  if ! pg_lsclusters -h | awk '{print $2}' | grep -qx "$name"; then
    pg_createcluster "$pg_version" "$name" --port "$port" -- --auth-host=trust --auth-local=trust >/dev/null
  fi
  cat > "$conf/conf.d/onramp-tls.conf" <<CONF
listen_addresses = '127.0.0.1'
ssl = $ssl
ssl_cert_file = '$tls_dir/pg/$cert.pem'
ssl_key_file = '$tls_dir/pg/$cert.key'
ssl_ca_file = '$tls_dir/pg/ca.pem'
CONF
  cat > "$conf/pg_hba.conf" <<CONF
local all all trust
hostssl all onramp_cert 127.0.0.1/32 cert
host all all 127.0.0.1/32 trust
CONF
  if pg_lsclusters -h | awk -v n="$name" '$2==n {print $4}' | grep -qx online; then
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$name" reload
  else
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$name" start
  fi
  psql -h /var/run/postgresql -p "$port" -U postgres -d postgres -qc \
    "DO \$\$ BEGIN CREATE ROLE onramp_cert LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
}
pg_tls_cluster onramp_tls 5434 server on
pg_tls_cluster onramp_tls_expired 5435 expired on
pg_tls_cluster onramp_notls 5436 server off
mariadb_tls=/var/lib/onramp-mariadb-tls
if [ ! -d "$mariadb_tls/data/mysql" ]; then
  install -d -o mysql -g mysql "$mariadb_tls"
  mariadb-install-db --user=mysql --datadir="$mariadb_tls/data" --auth-root-authentication-method=normal >/dev/null
fi
if ! up 3307; then
  start-stop-daemon --start --oknodo --background --pidfile "$mariadb_tls/mysqld.pid" --exec /usr/sbin/mariadbd -- --no-defaults --user=mysql \
    --datadir="$mariadb_tls/data" --port=3307 --bind-address=127.0.0.1 --socket="$mariadb_tls/mysqld.sock" \
    --pid-file="$mariadb_tls/mysqld.pid" --innodb-buffer-pool-size=32M \
    --ssl-ca="$tls_dir/mariadb/ca.pem" --ssl-cert="$tls_dir/mariadb/server.pem" --ssl-key="$tls_dir/mariadb/server.key"
  for _ in $(seq 1 60); do up 3307 && break; sleep 1; done
fi
# mariadb-install-db makes anonymous users, which would take 'onramp'@'%' logins.
mariadb --socket="$mariadb_tls/mysqld.sock" -uroot -e "
  DELETE FROM mysql.global_priv WHERE User = '';
  FLUSH PRIVILEGES;
  CREATE USER IF NOT EXISTS 'onramp'@'%' IDENTIFIED BY 'onramp-tls';
  GRANT ALL ON *.* TO 'onramp'@'%';
  CREATE USER IF NOT EXISTS 'onramp_x509'@'%' IDENTIFIED BY 'onramp-tls' REQUIRE X509;
  GRANT ALL ON *.* TO 'onramp_x509'@'%';
  CREATE DATABASE IF NOT EXISTS tls_test;
  CREATE TABLE IF NOT EXISTS tls_test.secrets (id int PRIMARY KEY);"

# ClickHouse from Debian's packages, on its own loopback ports with the config kept in the
# repo: HTTP on 18123, HTTPS on 18443 with the TLS servers' certificate.
if ! command -v clickhouse-server >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server >/dev/null
fi
install -d -m 0755 "$tls_dir/clickhouse"
for f in server.pem server.key; do install -m 0644 "$tls_dir/$f" "$tls_dir/clickhouse/$f"; done
if ! up 18123; then
  mkdir -p /var/lib/onramp-clickhouse/log
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile /var/lib/onramp-clickhouse/server.pid \
    --exec "$(command -v clickhouse-server)" -- --config-file="$PWD/tests/servers/clickhouse/config.xml"
fi

# A Redis Cluster of three masters (Debian's redis-server) on 127.0.0.1:17101-17103, its
# bus on 27101-27103; nothing kept on disk but each node's cluster state. A cluster that
# is not whole (a node lost its state, a create was cut off) is made again from empty nodes.
redis_cluster_dir=/var/lib/onramp-redis-cluster
redis_cluster_ports="17101 17102 17103"
for port in $redis_cluster_ports; do
  if ! up "$port"; then
    install -d "$redis_cluster_dir/$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
      --cluster-config-file "$redis_cluster_dir/$port/nodes.conf" --dir "$redis_cluster_dir/$port" \
      --save "" --appendonly no --logfile "$redis_cluster_dir/$port/redis.log"
  fi
  for _ in $(seq 1 30); do up "$port" && break; sleep 1; done
done
redis_cluster_ok() {
  for port in $redis_cluster_ports; do
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    [ "$(redis-cli -p "$port" cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')" = 3 ] || return 1
  done
}
if ! redis_cluster_ok; then
  for port in $redis_cluster_ports; do
    redis-cli -p "$port" flushall >/dev/null
    redis-cli -p "$port" cluster reset hard >/dev/null
  done
  # shellcheck disable=SC2046
  redis-cli --cluster create $(for p in $redis_cluster_ports; do printf '127.0.0.1:%s ' "$p"; done) \
    --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 1 30); do redis_cluster_ok && break; sleep 1; done
  redis_cluster_ok || { echo "the redis cluster on 17101-17103 did not form" >&2; exit 1; }
fi

for port in 5432 3306 6379 5672 5433 18123 15000 19200 18090 19050 17017 2222 5434 5435 5436 3307 18443; do
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
rabbitmqctl -q list_queues name 2>/dev/null | { grep -E '^t[0-9a-f]{12}\.' || true; } |
  while read -r q; do rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true; done
curl -s 'http://127.0.0.1:18123/' --data-binary "SELECT name FROM system.databases WHERE match(name, '^k[0-9a-f]{12}$')" |
  while read -r db; do curl -s 'http://127.0.0.1:18123/' --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null; done
for port in $redis_cluster_ports; do
  redis-cli -p "$port" --scan --pattern 't[0-9a-f]*:*' | xargs -r -n 1 redis-cli -p "$port" del >/dev/null
done
