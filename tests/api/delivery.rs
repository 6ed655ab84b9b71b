//! Delivery under failure: RabbitMQ or Redis unreachable, a worker killed mid-job,
//! SIGTERM draining, and no secret anywhere it must not be.

use std::time::Duration;

use lapin::ExchangeKind;
use onramp::startup::Roles;
use serde_json::{Value, json};

use crate::helpers::events::Subscriber;
use crate::helpers::process::onramp;
use crate::helpers::proxy::Proxy;
use crate::helpers::targets::*;
use crate::helpers::{body, spawn_settings, spawn_with, test_settings, unique};

async fn wait_for_status(app: &crate::helpers::TestApp, job_id: &str, status: &str) {
    for _ in 0..400 {
        if app.job(job_id).await["status"] == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job never reached {status}");
}

#[tokio::test]
async fn a_job_accepted_while_rabbitmq_is_unreachable_still_completes_after() {
    let amqp = Proxy::start("127.0.0.1:5672").await;
    let url = format!("amqp://guest:guest@{}/%2f", amqp.addr());
    let app = spawn_with(|s| s.amqp_url = url.into()).await;
    amqp.cut();
    let response = app
        .post_datasource(&body("postgres", pg_credentials("while-down", "public")))
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let job_id = accepted["jobId"].as_str().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.job(job_id).await["status"], "queued");
    assert_eq!(
        app.count("outbox").await,
        1,
        "the job message waits in the outbox"
    );
    amqp.restore();
    let job = app.wait_for_job(job_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    app.stop().await;
}

#[tokio::test]
async fn a_job_that_meets_an_unreachable_redis_is_retried_and_then_succeeds() {
    let redis = Proxy::start("127.0.0.1:6379").await;
    let url = format!("redis://{}/", redis.addr());
    let app = spawn_with(|s| {
        s.redis_url = url.into();
        s.retry_max_attempts = 8;
    })
    .await;
    redis.cut();
    let accepted: Value = app
        .accept(&body("postgres", pg_credentials("cache-down", "public")))
        .await;
    let job_id = accepted["jobId"].as_str().unwrap();
    // Wait until the first attempt has failed at the cache step.
    for _ in 0..200 {
        if app.job(job_id).await["attempts"].as_i64() >= Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    redis.restore();
    let job = app.wait_for_job(job_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["attempts"].as_i64().unwrap() >= 2, "{job}");
    app.stop().await;
}

#[tokio::test]
async fn an_infrastructure_fault_that_outlasts_every_retry_fails_the_job_and_dead_letters_it() {
    let redis = Proxy::start("127.0.0.1:6379").await;
    let url = format!("redis://{}/", redis.addr());
    let app = spawn_with(|s| {
        s.redis_url = url.into();
        s.retry_max_attempts = 3;
    })
    .await;
    redis.cut();
    let accepted: Value = app
        .accept(&body("postgres", pg_credentials("cache-gone", "public")))
        .await;
    let job = app
        .wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["error"]["code"], "SCHEMA_CACHE_FAILED");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{job}"
    );
    assert_eq!(job["attempts"], 3);
    // The message is in the dead-letter queue.
    let conn =
        lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Default::default())
            .await
            .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut dead = None;
    for _ in 0..50 {
        dead = ch
            .basic_get(
                app.settings.dead_letter_queue().as_str().into(),
                Default::default(),
            )
            .await
            .unwrap();
        if dead.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead: Value =
        serde_json::from_slice(&dead.expect("dead-lettered message").delivery.data).unwrap();
    assert_eq!(dead["jobId"], accepted["jobId"]);
    app.stop().await;
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_the_job_to_another_worker_which_completes_it_once() {
    let id = unique("t");
    let settings = test_settings(&id);
    let api = spawn_settings(
        id.clone(),
        settings.clone(),
        Roles {
            api: true,
            worker: false,
        },
    )
    .await;
    let mut events = Subscriber::events(&settings).await;
    let target = Proxy::start("127.0.0.1:5432").await;
    target.silence();
    let mut creds = pg_credentials("crash", "public");
    creds["port"] = json!(target.port);
    let accepted: Value = api.accept(&body("postgres", creds)).await;
    let job_id = accepted["jobId"].as_str().unwrap();

    let mut slow = settings.clone();
    slow.connect_timeout = Duration::from_millis(60_000);
    let log = std::env::temp_dir().join(format!("{id}-worker.log"));
    let mut worker = onramp(&slow, "worker", &log);
    wait_for_status(&api, job_id, "running").await;
    worker.kill().await.unwrap();
    target.restore();

    let second = spawn_settings(
        id.clone(),
        settings.clone(),
        Roles {
            api: false,
            worker: true,
        },
    )
    .await;
    let job = api.wait_for_job(job_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 2);
    let received = events.drain(Duration::from_secs(2)).await;
    let ready = received
        .iter()
        .filter(|e| e.body["type"] == "datasource.ready")
        .count();
    assert_eq!(ready, 1, "exactly one ready event");
    second.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn sigterm_lets_the_job_in_flight_finish_before_the_process_exits() {
    let id = unique("t");
    let mut settings = test_settings(&id);
    settings.connect_timeout = Duration::from_millis(30_000);
    let api = spawn_settings(
        id.clone(),
        test_settings(&id),
        Roles {
            api: true,
            worker: false,
        },
    )
    .await;
    settings.secret_key = api.settings.secret_key.clone();
    let target = Proxy::start("127.0.0.1:5432").await;
    target.pause();
    let mut creds = pg_credentials("drain", "public");
    creds["port"] = json!(target.port);
    let accepted: Value = api.accept(&body("postgres", creds)).await;
    let job_id = accepted["jobId"].as_str().unwrap();
    let log = std::env::temp_dir().join(format!("{id}-drain.log"));
    let mut worker = onramp(&settings, "worker", &log);
    wait_for_status(&api, job_id, "running").await;

    assert_eq!(crate::helpers::process::signal(&worker, 15), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker waits for its job"
    );
    target.restore();
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("worker exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let job = api.job(job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    api.stop().await;
}

/// `onramp serve` as a subprocess, once a `good` datasource was created with a user's
/// password and a `bad` one with a wrong password, both in one caller's trace.
struct Served {
    id: String,
    settings: onramp::config::Settings,
    child: tokio::process::Child,
    log: std::path::PathBuf,
    pool: sqlx::PgPool,
    password: String,
    trace_id: String,
    /// The create answers, both records and the list, as the caller read them.
    answers: String,
    /// Bound before the subprocess started: the jobs exchange and the events exchange.
    spy: Subscriber,
    events: Subscriber,
}

async fn serve_good_and_bad() -> Served {
    let id = unique("t");
    let settings = test_settings(&id);
    let password = format!("Secret-{}", unique("pw"));
    let user = unique("u");
    scram_user(&user, &password).await;
    let spy = Subscriber::bind(&settings.jobs_exchange(), ExchangeKind::Direct, "job").await;
    let events = Subscriber::events(&settings).await;
    let log = std::env::temp_dir().join(format!("{id}-serve.log"));
    let mut s = settings.clone();
    s.http_addr = format!("127.0.0.1:{}", crate::helpers::proxy::closed_port().await)
        .parse()
        .expect("an address");
    let child = onramp(&s, "serve", &log);
    let base = format!("http://{}", s.http_addr);
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "serve did not start");
    let pool = sqlx::PgPool::connect(s.database_url.expose())
        .await
        .unwrap();
    let (_, _, token) = onramp::storage::tokens::create(&pool, "secrets", None)
        .await
        .unwrap();
    let creds = |name: &str, pw: &str| {
        json!({"name": name, "host": "127.0.0.1", "port": SCRAM_PORT, "username": user,
        "password": pw, "database": "postgres", "sslMode": "disable"})
    };
    let mut answers = String::new();
    let read = |path: &str| {
        let request = client.get(format!("{base}{path}")).bearer_auth(&token);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    for (name, pw) in [
        ("good", password.clone()),
        ("bad", format!("{password}-wrong")),
    ] {
        let r = client
            .post(format!("{base}/api/v2/datasource?wait=20"))
            .bearer_auth(&token)
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .json(&body("postgres", creds(name, &pw)))
            .send()
            .await
            .unwrap();
        answers.push_str(&r.text().await.unwrap());
        answers.push_str(&read(&format!("/api/v2/datasource/{name}")).await);
    }
    answers.push_str(&read("/api/v2/datasource").await);
    Served {
        id,
        settings: s,
        child,
        log,
        pool,
        password,
        trace_id,
        answers,
        spy,
        events,
    }
}

impl Served {
    fn assert_hidden_in(&self, place: &str, text: &str) {
        assert!(
            !text.contains(&self.password),
            "the password appears in {place}"
        );
    }

    /// Stops the subprocess with SIGTERM and removes what it made; its log.
    async fn finish(&mut self) -> String {
        crate::helpers::process::signal(&self.child, 15);
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
        let logs = std::fs::read_to_string(&self.log).unwrap();
        self.pool.close().await;
        crate::helpers::cleanup(&self.id, &self.settings).await;
        logs
    }
}

#[tokio::test]
async fn the_password_appears_in_no_answer_job_message_or_event() {
    let mut served = serve_good_and_bad().await;
    served.assert_hidden_in("answers", &served.answers);
    let mut messages = String::new();
    for m in served
        .spy
        .drain(Duration::from_millis(500))
        .await
        .into_iter()
        .chain(served.events.drain(Duration::from_millis(500)).await)
    {
        messages.push_str(&m.body.to_string());
    }
    assert!(
        messages.contains("datasource.ready") && messages.contains("datasource.failed"),
        "{messages}"
    );
    served.assert_hidden_in("messages", &messages);
    served.finish().await;
}

#[tokio::test]
async fn the_password_appears_in_no_job_row_or_cache_value_and_is_stored_only_sealed() {
    let mut served = serve_good_and_bad().await;
    let jobs: Vec<(Value,)> = sqlx::query_as("SELECT to_jsonb(j) FROM jobs j")
        .fetch_all(&served.pool)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 2);
    let mut stored = String::new();
    for (j,) in &jobs {
        stored.push_str(&j.to_string());
    }
    served.assert_hidden_in("job rows", &stored);
    let sealed: Vec<(Vec<u8>, Value)> =
        sqlx::query_as("SELECT credentials_sealed, public_config FROM datasources")
            .fetch_all(&served.pool)
            .await
            .unwrap();
    let password = &served.password;
    for (sealed, public) in sealed {
        assert!(
            !sealed
                .windows(password.len())
                .any(|w| w == password.as_bytes())
        );
        assert!(public.get("password").is_none());
    }
    let mut redis = crate::helpers::redis_at("redis://127.0.0.1:6379/").await;
    let keys = crate::helpers::redis_keys(&mut redis, &served.settings.prefix)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let mut cached = String::new();
    for k in keys {
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(&k)
            .query_async(&mut redis)
            .await
            .unwrap();
        cached.push_str(&String::from_utf8_lossy(&dump));
        // A snapshot is stored as zstd frames: what matters is what they inflate to.
        if k.ends_with(":snapshot") {
            let value: Vec<u8> = redis::cmd("GET")
                .arg(&k)
                .query_async(&mut redis)
                .await
                .unwrap();
            let json = zstd::stream::decode_all(&value[..]).expect("zstd frames");
            assert!(json.starts_with(b"{\"datasourceType\""));
            cached.push_str(&String::from_utf8_lossy(&json));
        }
    }
    served.assert_hidden_in("redis", &cached);
    served.finish().await;
}

#[tokio::test]
async fn the_password_appears_in_no_log_line_and_the_worker_log_carries_the_callers_trace() {
    let mut served = serve_good_and_bad().await;
    let logs = served.finish().await;
    assert!(logs.contains("job finished"), "the log was captured");
    // The caller's trace continues through the job message into the worker.
    let traced = logs
        .lines()
        .filter(|l| l.contains("job finished") && l.contains(&served.trace_id))
        .count();
    assert_eq!(traced, 2, "worker log lines carry the request's trace id");
    served.assert_hidden_in("logs", &logs);
}

#[tokio::test]
async fn several_worker_processes_share_the_queue_and_each_job_runs_once() {
    let id = unique("t");
    let settings = test_settings(&id);
    let api = spawn_settings(
        id.clone(),
        settings.clone(),
        Roles {
            api: true,
            worker: false,
        },
    )
    .await;
    let logs: Vec<_> = (0..2)
        .map(|i| std::env::temp_dir().join(format!("{id}-w{i}.log")))
        .collect();
    let mut workers: Vec<_> = logs
        .iter()
        .map(|l| onramp(&settings, "worker", l))
        .collect();
    for log in &logs {
        let mut consuming = false;
        for _ in 0..200 {
            if std::fs::read_to_string(log)
                .unwrap_or_default()
                .contains("worker consuming")
            {
                consuming = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(consuming, "a worker did not start");
    }
    let mut job_ids = Vec::new();
    for i in 0..12 {
        let accepted: Value = api
            .accept(&body(
                "postgres",
                pg_credentials(&format!("shared-{i}"), "public"),
            ))
            .await;
        job_ids.push(accepted["jobId"].as_str().unwrap().to_string());
    }
    for job_id in &job_ids {
        let job = api.wait_for_job(job_id, Duration::from_secs(30)).await;
        assert_eq!(
            (job["status"].as_str(), job["attempts"].as_i64()),
            (Some("succeeded"), Some(1)),
            "{job}"
        );
    }
    for (worker, log) in workers.iter_mut().zip(&logs) {
        worker.start_kill().unwrap();
        let _ = worker.wait().await;
        let finished = std::fs::read_to_string(log)
            .unwrap()
            .matches("job finished")
            .count();
        assert!(finished > 0, "each worker took part");
    }
    api.stop().await;
}

#[tokio::test]
async fn a_job_that_meets_an_unreachable_postgres_is_retried_and_then_succeeds() {
    let pg = Proxy::start("127.0.0.1:5432").await;
    let id = unique("t");
    let mut settings = test_settings(&id);
    settings.database_url = format!("postgres://postgres@{}/onramp_{id}", pg.addr()).into();
    settings.retry_max_attempts = 10;
    let app = spawn_settings(
        id,
        settings,
        Roles {
            api: true,
            worker: true,
        },
    )
    .await;
    let target = Proxy::start("127.0.0.1:5432").await;
    target.pause();
    let mut creds = pg_credentials("pg-down", "public");
    creds["port"] = json!(target.port);
    let accepted: Value = app.accept(&body("postgres", creds)).await;
    let job_id = accepted["jobId"].as_str().unwrap();
    wait_for_status(&app, job_id, "running").await;
    // onramp's own database goes away while the job talks to its target.
    pg.cut();
    target.restore();
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.restore();
    let job = app.wait_for_job(job_id, Duration::from_secs(40)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["attempts"].as_i64().unwrap() >= 2, "{job}");
    app.stop().await;
}
