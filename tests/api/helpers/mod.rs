//! spawn_app and friends: every test gets its own PostgreSQL database for onramp,
//! its own queue and exchange names, its own Redis key prefix and its own target
//! schema, so tests run in parallel against the machine's real servers.

pub mod events;
pub mod hostile;
pub mod process;
pub mod proxy;
pub mod receiver;
pub mod s3;
pub mod sse;
pub mod ssh;
pub mod targets;
pub mod tls_front;

use std::time::Duration;

use onramp::config::Settings;
use onramp::startup::{Application, Roles};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The port of a loopback URL that `unreachable_and_silent` hands a credentials
/// builder, for types whose credentials name a host and a port.
pub fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a url that ends in its port")
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// Settings for a test: fast timeouts and retries, isolated names.
pub fn test_settings(id: &str) -> Settings {
    use base64::Engine;
    let key: [u8; 32] = rand::random();
    Settings {
        http_addr: "127.0.0.1:0".parse().expect("an address"),
        // Through the socket: 127.0.0.1:5432 is where the tests' target databases live, and
        // onramp refuses its own database's address as a datasource.
        database_url: format!("postgres://postgres@localhost/onramp_{id}?host=/var/run/postgresql")
            .into(),
        secret_key: Some(base64::engine::general_purpose::STANDARD.encode(key).into()),
        prefix: id.to_string(),
        worker_concurrency: 4,
        database_pool_size: 6,
        connect_timeout: Duration::from_millis(2_000),
        discover_timeout: Duration::from_millis(5_000),
        cache_timeout: Duration::from_millis(1_500),
        retry_max_attempts: 4,
        retry_base_delay: Duration::from_millis(200),
        retry_max_delay: Duration::from_millis(1_000),
        job_lease: Duration::from_millis(2_000),
        drain_timeout: Duration::from_millis(10_000),
        outbox_poll: Duration::from_millis(100),
        ..Settings::default()
    }
}

pub struct TestApp {
    pub id: String,
    pub address: String,
    pub settings: Settings,
    pub pool: PgPool,
    pub client: reqwest::Client,
    pub token: String,
    pub org_id: Uuid,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Starts API and workers in-process after `adjust` has changed the settings.
/// An app whose connect step has room (5 s) for each fault a test provokes to
/// arrive as itself, not as the step's time running out on a machine the parallel
/// tests keep busy.
pub async fn spawn_for_faults() -> TestApp {
    spawn_with(|s| s.connect_timeout = Duration::from_millis(5_000)).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let id = unique("t");
    let mut settings = test_settings(&id);
    adjust(&mut settings);
    spawn_settings(
        id,
        settings,
        Roles {
            api: true,
            worker: true,
        },
    )
    .await
}

pub async fn spawn_settings(id: String, settings: Settings, roles: Roles) -> TestApp {
    let egress = onramp::egress::Egress::new(settings.egress_policy().unwrap());
    spawn_with_egress(id, settings, roles, egress).await
}

/// Starts an app whose workers connect through `egress` (a resolver the test controls).
pub async fn spawn_with_egress(
    id: String,
    settings: Settings,
    roles: Roles,
    egress: onramp::egress::Egress,
) -> TestApp {
    spawn_built(id, settings, roles, egress, None).await
}

/// Starts API and workers whose AWS identity (the one that assumes customers' roles)
/// is `platform`.
pub async fn spawn_with_aws(platform: onramp::connectors::support::aws::Platform) -> TestApp {
    let id = unique("t");
    let settings = test_settings(&id);
    let egress = onramp::egress::Egress::new(settings.egress_policy().unwrap());
    let roles = Roles {
        api: true,
        worker: true,
    };
    spawn_built(id, settings, roles, egress, Some(platform)).await
}

async fn spawn_built(
    id: String,
    settings: Settings,
    roles: Roles,
    egress: onramp::egress::Egress,
    aws: Option<onramp::connectors::support::aws::Platform>,
) -> TestApp {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    onramp::telemetry::init_logs("text");
    let mut app = Application::build_with_egress(settings.clone(), roles, egress)
        .await
        .expect("app builds");
    if let Some(platform) = aws {
        app = app.with_aws(platform);
    }
    let address = app
        .local_addr()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    let pool = app.state().pool.clone();
    let (_, _, token) = onramp::storage::tokens::create(&pool, &format!("org-{id}"), None)
        .await
        .expect("token");
    let org_id = onramp::storage::tokens::authenticate(&pool, &token)
        .await
        .unwrap()
        .unwrap()
        .as_uuid();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run(shutdown.clone()));
    TestApp {
        id,
        address,
        settings,
        pool,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        token,
        org_id,
        shutdown,
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_datasource(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v2/datasource"))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Posts a create request that must be accepted; its 202 body.
    pub async fn accept(&self, body: &Value) -> Value {
        let response = self.post_datasource(body).await;
        assert_eq!(response.status(), 202, "create was not accepted");
        response.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn job(&self, job_id: &str) -> Value {
        self.get(&format!("/api/v2/jobs/{job_id}"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// Polls the job until it is final (or panics after `limit`).
    pub async fn wait_for_job(&self, job_id: &str, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let job = self.job(job_id).await;
            if job["status"] == "succeeded" || job["status"] == "failed" {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job did not finish in {limit:?}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Syncs a datasource by name and returns its finished job.
    pub async fn sync_and_wait(&self, name: &str) -> Value {
        let response = self
            .client
            .post(self.url("/api/v2/datasource/sync"))
            .bearer_auth(&self.token)
            .json(&json!({"datasourceName": name}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 202, "sync was not accepted");
        let accepted: Value = response.json().await.unwrap();
        self.wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(30))
            .await
    }

    /// Creates a datasource and returns its finished job.
    pub async fn create_and_wait(&self, body: &Value) -> Value {
        let response = self.post_datasource(body).await;
        assert_eq!(
            response.status(),
            202,
            "create answered {}",
            response.text().await.unwrap()
        );
        let accepted: Value = response.json().await.unwrap();
        self.wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(30))
            .await
    }

    /// Creates a datasource whose job must fail with a hint and a message containing
    /// `needle` (or starting with it, when `needle` ends in `…`); the job.
    pub async fn fails_with(&self, body: &Value, needle: &str) -> Value {
        let job = self.create_and_wait(body).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert!(
            job["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
            "no hint: {job}"
        );
        let message = job["error"]["message"].as_str().unwrap_or_default();
        let found = match needle.strip_suffix('…') {
            Some(prefix) => message.starts_with(prefix),
            None => message.contains(needle),
        };
        assert!(found, "expected {needle:?} in {job}");
        job
    }

    /// Creates a datasource and follows it to the end a client sees: the job
    /// succeeded, the snapshot is served (from Redis), and a `datasource.ready` event
    /// of its type was published. Returns the snapshot.
    pub async fn onboard(&self, ty: &str, credentials: Value) -> Value {
        let name = credentials["name"]
            .as_str()
            .expect("credentials name the datasource")
            .to_string();
        let mut events = events::Subscriber::events(&self.settings).await;
        let job = self.create_and_wait(&body(ty, credentials)).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let snapshot: Value = self
            .get(&format!("/api/v2/datasource/{name}/schema"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(snapshot["datasourceType"], ty, "{snapshot}");
        let ready = events
            .next_of("datasource.ready", Duration::from_secs(10))
            .await
            .expect("a ready event");
        assert_eq!(ready.body["data"]["datasourceType"], ty);
        snapshot
    }

    /// An HTTP endpoint that refuses connections and one that accepts them and never
    /// answers each end a job of `ty` with their own message;
    /// `credentials(name, endpoint_url)` builds the type's credentials.
    pub async fn unreachable_and_silent(
        &self,
        ty: &str,
        credentials: impl Fn(&str, &str) -> Value,
    ) {
        let refused = format!("http://127.0.0.1:{}", proxy::closed_port().await);
        self.fails_with(
            &body(ty, credentials("refused", &refused)),
            "connect: request to 127.0.0.1 failed…",
        )
        .await;
        let (port, _server) = proxy::silent_server().await;
        let silent = format!("http://127.0.0.1:{port}");
        let limit = self.settings.connect_timeout.as_millis();
        self.fails_with(
            &body(ty, credentials("silent", &silent)),
            &format!("connect timed out after {limit} ms"),
        )
        .await;
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Stops the app, then removes its database, queues and exchanges.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), h).await;
        }
        self.pool.close().await;
        cleanup(&self.id, &self.settings).await;
    }
}

pub async fn cleanup(id: &str, settings: &Settings) {
    if let Ok(conn) =
        lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Default::default())
            .await
        && let Ok(ch) = conn.create_channel().await
    {
        let mut queues = vec![settings.jobs_queue(), settings.dead_letter_queue()];
        for d in onramp::queue::retry_delays(settings) {
            queues.push(onramp::queue::retry_queue(settings, d));
        }
        for q in queues {
            let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
        }
        for x in [
            settings.jobs_exchange(),
            format!("{}.dead", settings.jobs_exchange()),
            settings.retry_exchange(),
            settings.events_exchange(),
        ] {
            let _ = ch
                .exchange_delete(x.as_str().into(), Default::default())
                .await;
        }
        let _ = conn.close(200, "test done".into()).await;
    }
    if let Ok(admin) = PgPool::connect(PG_ADMIN).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS onramp_{id} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
        admin.close().await;
    }
    if let Ok(client) = redis::Client::open("redis://127.0.0.1:6379/")
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let keys = redis_keys(&mut conn, &settings.prefix)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
        }
    }
}

/// A connection to the Redis (or one cluster node) at `url`.
pub async fn redis_at(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The keys under a test's `prefix` (its own, so tests in parallel never see each other's).
pub async fn redis_keys(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> redis::RedisResult<Vec<String>> {
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(conn)
        .await
}

/// A create body for `type` with `credentials`.
pub fn body(datasource_type: &str, credentials: Value) -> Value {
    json!({"datasourceType": datasource_type, "credentials": credentials})
}

/// A table's columns as (name, type family, nullable).
pub fn column_shapes(table: &Value) -> Vec<(String, String, bool)> {
    table["columns"]
        .as_array()
        .expect("a table has columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["type"].as_str().unwrap().to_string(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Expected column shapes, written as (&str, &str, bool) tuples.
pub fn shapes(expected: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    expected
        .iter()
        .map(|(n, t, null)| (n.to_string(), t.to_string(), *null))
        .collect()
}

/// A table of a snapshot's first schema, by name.
pub fn table<'a>(snapshot: &'a Value, name: &str) -> &'a Value {
    snapshot["databases"][0]["schemas"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("table {name} missing from {snapshot}"))
}

/// An app that serves the API only (its relay and reconciler run, no worker).
pub async fn spawn_api(id: &str, settings: &Settings) -> TestApp {
    let roles = Roles {
        api: true,
        worker: false,
    };
    spawn_settings(id.to_string(), settings.clone(), roles).await
}

/// A worker of the same instance as an app made by `spawn_api`.
pub async fn spawn_worker(id: &str, settings: &Settings) -> TestApp {
    let roles = Roles {
        api: false,
        worker: true,
    };
    spawn_settings(id.to_string(), settings.clone(), roles).await
}

/// API and workers whose connections go through `resolver` and `connector`.
pub async fn spawn_with_guard(
    resolver: std::sync::Arc<dyn onramp::egress::Resolver>,
    connector: std::sync::Arc<dyn onramp::egress::Connector>,
) -> TestApp {
    let id = unique("t");
    let settings = test_settings(&id);
    let egress =
        onramp::egress::Egress::with(settings.egress_policy().unwrap(), resolver, connector);
    let roles = Roles {
        api: true,
        worker: true,
    };
    spawn_with_egress(id, settings, roles, egress).await
}

/// A channel on the machine's RabbitMQ, for looking at an instance's queues.
pub async fn broker() -> (lapin::Connection, lapin::Channel) {
    let conn =
        lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Default::default())
            .await
            .unwrap();
    let ch = conn.create_channel().await.unwrap();
    (conn, ch)
}

/// How many messages wait in `queue`.
pub async fn queue_length(ch: &lapin::Channel, queue: &str) -> u32 {
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    ch.queue_declare(queue.into(), passive, Default::default())
        .await
        .unwrap()
        .message_count()
}

/// The next job message in the instance's dead-letter queue (waiting up to 5 s).
pub async fn dead_lettered(settings: &Settings) -> Value {
    let (conn, ch) = broker().await;
    for _ in 0..50 {
        let got = ch
            .basic_get(
                settings.dead_letter_queue().as_str().into(),
                Default::default(),
            )
            .await
            .unwrap();
        if let Some(m) = got {
            let _ = conn.close(200, "done".into()).await;
            return serde_json::from_slice(&m.delivery.data).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing was dead-lettered");
}

/// Returns every message of `queue` `times` times, as workers that died holding it would.
pub async fn return_messages(queue: &str, times: u32) {
    let (conn, ch) = broker().await;
    let mut returned = 0;
    while returned < times {
        match ch
            .basic_get(queue.into(), Default::default())
            .await
            .unwrap()
        {
            Some(m) => {
                let requeue = lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                m.delivery.nack(requeue).await.unwrap();
                returned += 1;
            }
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let _ = conn.close(200, "done".into()).await;
}
