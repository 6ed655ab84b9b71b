//! Target databases for the connectors: a fresh schema in the local PostgreSQL, a
//! fresh database in the local MariaDB, and users with passwords on the
//! password-checking PostgreSQL cluster that the test script starts.

use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

/// The PostgreSQL cluster that checks passwords (scram-sha-256), started by scripts/test.sh.
pub const SCRAM_PORT: u16 = 5433;

const PG_FIXTURE: &str = "
CREATE SCHEMA {s};
CREATE TABLE {s}.customers (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  tenant_id integer NOT NULL DEFAULT 0,
  created_at timestamptz DEFAULT now()
);
COMMENT ON TABLE {s}.customers IS 'people who pay';
COMMENT ON COLUMN {s}.customers.name IS 'full name';
CREATE TABLE {s}.orders (
  id bigserial,
  line integer,
  customer_id bigint REFERENCES {s}.customers (id),
  amount numeric(12,2),
  paid boolean,
  meta jsonb,
  ref uuid,
  PRIMARY KEY (id, line)
);
CREATE VIEW {s}.big_orders AS SELECT id, amount FROM {s}.orders WHERE amount > 100;
";

pub async fn pg_admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=test",
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client
}

/// A schema named `schema` in database `test` with customers, orders and a view.
pub async fn pg_schema(schema: &str) {
    pg_admin()
        .await
        .batch_execute(&PG_FIXTURE.replace("{s}", schema))
        .await
        .unwrap();
}

pub async fn drop_pg_schema(schema: &str) {
    let _ = pg_admin()
        .await
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await;
}

pub fn pg_credentials(name: &str, schema: &str) -> Value {
    json!({"name": name, "host": "127.0.0.1", "port": 5432, "username": "postgres", "password": "",
           "database": "test", "schema": schema, "sslMode": "disable"})
}

/// A role with `password` on the password-checking cluster.
pub async fn scram_user(user: &str, password: &str) {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=/var/run/postgresql port={SCRAM_PORT} user=postgres dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("the scram cluster on port 5433 runs (scripts/test.sh starts it)");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE ROLE {user} LOGIN PASSWORD '{password}'"))
        .await
        .unwrap();
}

pub async fn mysql_admin() -> mysql_async::Conn {
    mysql_async::Conn::new(
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(3306)
            .user(Some("root"))
            .prefer_socket(false),
    )
    .await
    .unwrap()
}

/// A database named `db` with customers, orders and a view.
pub async fn mysql_database(db: &str) {
    let mut c = mysql_admin().await;
    c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    c.query_drop(format!(
        "CREATE TABLE {db}.customers (id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL COMMENT 'full name', \
         tenant_id int NOT NULL DEFAULT 0, active tinyint(1)) COMMENT='people who pay'"
    ))
    .await
    .unwrap();
    c.query_drop(format!(
        "CREATE TABLE {db}.orders (id bigint NOT NULL, line int NOT NULL, customer_id bigint, amount decimal(12,2), created datetime, \
         PRIMARY KEY (id, line), FOREIGN KEY (customer_id) REFERENCES {db}.customers (id))"
    ))
    .await
    .unwrap();
    c.query_drop(format!(
        "CREATE VIEW {db}.big_orders AS SELECT id, amount FROM {db}.orders WHERE amount > 100"
    ))
    .await
    .unwrap();
    c.disconnect().await.unwrap();
}

pub async fn drop_mysql_database(db: &str) {
    let mut c = mysql_admin().await;
    let _ = c.query_drop(format!("DROP DATABASE IF EXISTS {db}")).await;
    let _ = c.disconnect().await;
}

pub fn mysql_credentials(name: &str, db: &str) -> Value {
    json!({"name": name, "host": "127.0.0.1", "port": 3306, "username": "root", "password": "", "database": db})
}

/// Credentials of `datasource_type` for the local server of its wire protocol:
/// PostgreSQL for postgres, cockroachdb and redshift; MariaDB for mysql and singlestore.
pub fn credentials_for(datasource_type: &str, name: &str) -> Value {
    match datasource_type {
        "postgres" | "cockroachdb" => pg_credentials(name, "public"),
        "redshift" => {
            let mut c = pg_credentials(name, "public");
            c.as_object_mut().unwrap().remove("sslMode");
            // The local server offers TLS: the default, encrypted path is the one tested.
            c["ssl"] = json!("enable");
            c
        }
        "mysql" | "singlestore" => mysql_credentials(name, "test"),
        other => panic!("no local server for {other}"),
    }
}

pub const WIRE_TYPES: &[&str] = &[
    "postgres",
    "cockroachdb",
    "redshift",
    "mysql",
    "singlestore",
];

pub fn is_pg_wire(datasource_type: &str) -> bool {
    matches!(datasource_type, "postgres" | "cockroachdb" | "redshift")
}

/// The ClickHouse server that scripts/test-servers.sh starts.
pub const CLICKHOUSE_PORT: u16 = 18123;

async fn clickhouse_run(sql: &str) {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{CLICKHOUSE_PORT}/"))
        .body(sql.to_string())
        .send()
        .await
        .expect("clickhouse runs (scripts/test-servers.sh starts it)");
    let status = r.status();
    assert!(status.is_success(), "{sql}: {}", r.text().await.unwrap());
}

/// A database `db` with a MergeTree table, a view and a Log table.
pub async fn clickhouse_database(db: &str) {
    for sql in [
        format!("CREATE DATABASE {db}"),
        format!(
            "CREATE TABLE {db}.events (id UInt64, ts DateTime, user Nullable(String) COMMENT 'who did it', \
             amount Decimal(12, 2), tags Array(String), kind String DEFAULT 'click') \
             ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (id, ts)"
        ),
        format!("CREATE VIEW {db}.recent AS SELECT id, ts FROM {db}.events"),
        format!("CREATE TABLE {db}.log (msg String) ENGINE = Log"),
    ] {
        clickhouse_run(&sql).await;
    }
}

pub async fn drop_clickhouse_database(db: &str) {
    clickhouse_run(&format!("DROP DATABASE IF EXISTS {db}")).await;
}

pub fn clickhouse_credentials(name: &str, db: &str) -> Value {
    json!({"name": name, "host": "127.0.0.1", "port": CLICKHOUSE_PORT, "database": db})
}
