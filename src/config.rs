//! Settings: built-in defaults, then a TOML file, then `ONRAMP_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A setting that must never be printed: the encryption key, or a URL whose user
/// part may hold a password. `Debug` and `Serialize` show `[redacted]`; the value is
/// read with `expose` where it is decoded or connected with.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Secret {
        Secret(SecretString::from(text))
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Secret {
        Secret::from(text.to_string())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Serialised only to list the settings' names and kinds (see `Settings::load_from`).
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::from)
    }
}

/// A duration given as a whole number of units of `MS` milliseconds: settings name
/// their unit (`connect_timeout_ms = 2000` is `Whole::<1>`, `stream_max_seconds =
/// 900` is `Whole::<1000>`).
struct Whole<const MS: u64>;

impl<const MS: u64> Whole<MS> {
    fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis() / u128::from(MS)).unwrap_or(u64::MAX))
    }

    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(|n| Duration::from_millis(n.saturating_mul(MS)))
    }
}

/// A bad address names the setting (serde's own message would not).
fn listen_address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "http_addr {text:?} is not an IP address and port (such as 127.0.0.1:8080)"
        ))
    })
}

/// Every setting has a default: a file or the environment gives only what differs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the HTTP API listens: an IP address and a port.
    #[serde(deserialize_with = "listen_address")]
    pub http_addr: SocketAddr,
    pub database_url: Secret,
    pub amqp_url: Secret,
    /// One Redis URL; with `redis_cluster`, the URLs of some of the cluster's nodes
    /// separated by commas (the client finds the others from them).
    pub redis_url: Secret,
    /// Talk to a Redis Cluster: every key of a datasource is hash-tagged by its
    /// organisation, so a datasource's snapshot and metadata share a slot.
    pub redis_cluster: bool,
    /// Base64 of 32 bytes; encrypts credentials at rest. Never logged.
    pub secret_key: Option<Secret>,
    /// Where a development key is kept when `secret_key` is not given.
    pub secret_key_file: PathBuf,
    /// Names of queues, exchanges and Redis keys start with this, so that
    /// several deployments (or tests) can share one broker and one Redis.
    pub prefix: String,
    pub worker_concurrency: usize,
    pub database_pool_size: u32,
    pub body_limit_bytes: usize,
    /// The weakest TLS a datasource may ask for, for the types that let it choose
    /// (hosted deployments set `require` or stronger).
    pub minimum_ssl_mode: crate::egress::tls::SslMode,
    /// Where onramp's own AWS identity assumes customers' roles: a VPC endpoint, or
    /// an AWS-compatible server; AWS's regional STS when absent.
    pub aws_sts_endpoint: Option<String>,
    /// AWS accounts whose roles are never assumed, comma-separated: onramp's own
    /// (so that a tenant cannot borrow a role that trusts onramp's account).
    pub aws_denied_accounts: String,
    /// Opening an SSH tunnel: the bastion's handshake, host key and login.
    #[serde(rename = "tunnel_timeout_ms", with = "Whole::<1>")]
    pub tunnel_timeout: Duration,
    #[serde(rename = "connect_timeout_ms", with = "Whole::<1>")]
    pub connect_timeout: Duration,
    #[serde(rename = "discover_timeout_ms", with = "Whole::<1>")]
    pub discover_timeout: Duration,
    #[serde(rename = "cache_timeout_ms", with = "Whole::<1>")]
    pub cache_timeout: Duration,
    /// How many times a job is tried when onramp's own infrastructure fails.
    pub retry_max_attempts: u32,
    #[serde(rename = "retry_base_delay_ms", with = "Whole::<1>")]
    pub retry_base_delay: Duration,
    #[serde(rename = "retry_max_delay_ms", with = "Whole::<1>")]
    pub retry_max_delay: Duration,
    /// How long a worker's claim on a job lasts without a heartbeat.
    #[serde(rename = "job_lease_ms", with = "Whole::<1>")]
    pub job_lease: Duration,
    /// How long SIGTERM waits for in-flight jobs before returning them to the queue.
    #[serde(rename = "drain_timeout_ms", with = "Whole::<1>")]
    pub drain_timeout: Duration,
    /// How often the outbox relay looks for rows when no notification arrives.
    #[serde(rename = "outbox_poll_ms", with = "Whole::<1>")]
    pub outbox_poll: Duration,
    /// `json` or `text`.
    pub log_format: String,
    /// CIDR ranges workers may reach even inside a refused class (comma-separated).
    pub egress_allow: String,
    /// CIDR ranges workers never reach; deny wins over allow.
    pub egress_deny: String,
    /// Private ranges and loopback are reachable; hosted deployments turn this off.
    pub egress_allow_private: bool,
    /// Largest file a csv datasource may upload through the API.
    pub upload_limit_bytes: usize,
    /// Largest remote file a csv datasource may point at.
    pub csv_max_bytes: u64,
    /// Largest body a connector reads from a target's HTTP answer (a result page, a
    /// listing, an error); a larger answer fails the job rather than the process.
    pub target_response_max_bytes: usize,
    /// The most one connection to a target (or one job's HTTP client) reads in all.
    pub target_read_max_bytes: usize,
    /// Largest message the outbox relay publishes; a larger row is set aside
    /// (RabbitMQ 4 refuses messages over 16 MiB by default).
    pub outbox_max_message_bytes: usize,
    /// Deliveries of one job message without an outcome (each a worker that stopped
    /// while holding it) after which the job is failed instead of tried again; the
    /// jobs queue's `x-delivery-limit` is one more, as a backstop.
    pub job_delivery_limit: u32,
    /// Jobs one organisation may have dispatched and unfinished at once, across all
    /// workers: the rest wait in the outbox, so others' jobs go first.
    pub org_max_concurrent_jobs: u32,
    /// Jobs whose datasources point at one host that may run at once, across all
    /// workers: a customer's server is not flooded by a bulk onboarding.
    pub target_max_concurrent_jobs: u32,
    /// How often the reconciler looks for stranded jobs.
    #[serde(rename = "reconcile_interval_ms", with = "Whole::<1>")]
    pub reconcile_interval: Duration,
    /// How long a job waits (queued, or running on an expired lease) without a
    /// message before the reconciler sends it again; above the longest retry delay.
    #[serde(rename = "reconcile_after_ms", with = "Whole::<1>")]
    pub reconcile_after: Duration,
    /// Discoveries of at least this many relations report their progress (a
    /// `job.progress` event and the step's `progress`) while they run.
    pub progress_min_relations: usize,
    /// How often such a discovery's progress is written and published, at most.
    #[serde(rename = "progress_interval_ms", with = "Whole::<1>")]
    pub progress_interval: Duration,
    /// How long a finished test job (POST /api/v2/datasource/test) stays readable
    /// before the reconciler removes it.
    #[serde(rename = "test_retention_seconds", with = "Whole::<1000>")]
    pub test_retention: Duration,
    /// Server-Sent Events streams (and `?wait` answers) one organisation may hold open.
    pub streams_per_org: usize,
    /// How long one such stream may stay open before the server ends it (the client
    /// reconnects).
    #[serde(rename = "stream_max_seconds", with = "Whole::<1000>")]
    pub stream_max: Duration,
    /// How long events stay replayable by the organisation event stream
    /// (`Last-Event-ID`); older ones are removed.
    #[serde(rename = "event_retention_seconds", with = "Whole::<1000>")]
    pub event_retention: Duration,
    /// How long one webhook delivery may take, connection and answer.
    #[serde(rename = "webhook_timeout_ms", with = "Whole::<1>")]
    pub webhook_timeout: Duration,
    /// Deliveries in flight at once in one process, all webhooks together.
    pub webhook_concurrency: usize,
    /// Deliveries in flight at once to one webhook, all processes together.
    pub webhook_endpoint_concurrency: u32,
    /// Deliveries in flight at once to one organisation's webhooks, all processes
    /// together: a slow receiver slows only its own organisation.
    pub webhook_org_concurrency: u32,
    /// Failed deliveries in a row after which a webhook is disabled.
    pub webhook_max_failures: u32,
    /// How long a failing delivery is retried before it is given up and its webhook
    /// disabled.
    #[serde(rename = "webhook_retry_for_seconds", with = "Whole::<1000>")]
    pub webhook_retry_for: Duration,
    /// The first pause before a failed delivery is tried again; it doubles each time.
    #[serde(rename = "webhook_retry_base_ms", with = "Whole::<1>")]
    pub webhook_retry_base: Duration,
    /// How long the previous signing secret still signs after a rotation.
    #[serde(rename = "webhook_secret_grace_seconds", with = "Whole::<1000>")]
    pub webhook_secret_grace: Duration,
    /// How long finished deliveries stay in a webhook's delivery log.
    #[serde(rename = "webhook_log_retention_seconds", with = "Whole::<1000>")]
    pub webhook_log_retention: Duration,
    /// Allow `http://` webhook URLs whose host is a loopback address (for tests and
    /// local development); any other webhook URL must be `https://`.
    pub webhook_allow_http_loopback: bool,
    /// Where a process without the API (`onramp worker`) serves `/metrics`,
    /// `/healthz` and `/readyz`, e.g. `0.0.0.0:9090`; empty for nowhere. A process
    /// with the API serves them on `http_addr`.
    pub metrics_addr: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            // The local server through its socket: its TCP address stays free to be
            // onboarded as a datasource (onramp refuses its own database's address).
            database_url: "postgres://postgres@localhost/onramp?host=/var/run/postgresql".into(),
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            redis_url: "redis://127.0.0.1:6379/".into(),
            redis_cluster: false,
            secret_key: None,
            secret_key_file: PathBuf::from(".onramp/dev-secret.key"),
            prefix: "onramp".into(),
            worker_concurrency: 16,
            database_pool_size: 20,
            body_limit_bytes: 64 * 1024,
            minimum_ssl_mode: crate::egress::tls::SslMode::Disable,
            aws_sts_endpoint: None,
            aws_denied_accounts: String::new(),
            tunnel_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            discover_timeout: Duration::from_secs(120),
            cache_timeout: Duration::from_secs(10),
            retry_max_attempts: 5,
            retry_base_delay: Duration::from_secs(1),
            retry_max_delay: Duration::from_secs(60),
            job_lease: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            outbox_poll: Duration::from_secs(1),
            log_format: "text".into(),
            egress_allow: String::new(),
            egress_deny: String::new(),
            egress_allow_private: true,
            upload_limit_bytes: 10 * 1024 * 1024,
            csv_max_bytes: 1024 * 1024 * 1024,
            target_response_max_bytes: 32 * 1024 * 1024,
            target_read_max_bytes: 256 * 1024 * 1024,
            outbox_max_message_bytes: 16 * 1024 * 1024,
            job_delivery_limit: 6,
            org_max_concurrent_jobs: 32,
            target_max_concurrent_jobs: 4,
            reconcile_interval: Duration::from_secs(30),
            reconcile_after: Duration::from_secs(300),
            progress_min_relations: 2_000,
            progress_interval: Duration::from_secs(2),
            test_retention: Duration::from_secs(3600),
            streams_per_org: 64,
            stream_max: Duration::from_secs(900),
            event_retention: Duration::from_secs(86_400),
            webhook_timeout: Duration::from_secs(10),
            webhook_concurrency: 32,
            webhook_endpoint_concurrency: 4,
            webhook_org_concurrency: 8,
            webhook_max_failures: 50,
            webhook_retry_for: Duration::from_secs(86_400),
            webhook_retry_base: Duration::from_secs(5),
            webhook_secret_grace: Duration::from_secs(86_400),
            webhook_log_retention: Duration::from_secs(7 * 86_400),
            webhook_allow_http_loopback: false,
            metrics_addr: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("settings: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads defaults, then `file` (or `onramp.toml` when present), then `ONRAMP_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Settings, ConfigError> {
        // The defaults, serialised, name every setting and its kind (secrets appear
        // as text); what the file and the environment give is read on top of them.
        let shape = match serde_json::to_value(Settings::default()) {
            Ok(Value::Object(m)) => m,
            _ => unreachable!("settings serialise to an object"),
        };
        let mut merged = Map::new();
        let default_file = Path::new("onramp.toml");
        let file = file.or_else(|| default_file.exists().then_some(default_file));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.into(),
                source,
            })?;
            // Not the parser's whole text: it quotes the offending line, which may be
            // a URL with its password.
            let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
                path: path.into(),
                message: match e.span() {
                    Some(at) => format!(
                        "line {}: {}",
                        text[..at.start.min(text.len())].lines().count().max(1),
                        e.message()
                    ),
                    None => e.message().to_string(),
                },
            })?;
            for (key, value) in table {
                let value = serde_json::to_value(value).map_err(|e| ConfigError::File {
                    path: path.into(),
                    message: e.to_string(),
                })?;
                merged.insert(key, value);
            }
        }
        apply_env(&shape, &mut merged, env)?;
        let settings: Settings = serde_json::from_value(Value::Object(merged))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.into()));
        if self.worker_concurrency == 0 {
            return invalid("worker_concurrency must be at least 1");
        }
        if self.org_max_concurrent_jobs == 0 || self.target_max_concurrent_jobs == 0 {
            return invalid(
                "org_max_concurrent_jobs and target_max_concurrent_jobs must be at least 1",
            );
        }
        // A job waiting in a retry queue, or on a live lease, must not look stranded.
        if self.reconcile_after <= self.retry_max_delay + self.job_lease {
            return invalid(
                "reconcile_after_ms must be more than retry_max_delay_ms + job_lease_ms",
            );
        }
        if self.webhook_concurrency == 0
            || self.webhook_endpoint_concurrency == 0
            || self.webhook_org_concurrency == 0
            || self.webhook_max_failures == 0
        {
            return invalid(
                "webhook_concurrency, webhook_endpoint_concurrency, webhook_org_concurrency and webhook_max_failures must be at least 1",
            );
        }
        if self.webhook_timeout.is_zero() || self.webhook_retry_base.is_zero() {
            return invalid("webhook_timeout_ms and webhook_retry_base_ms must be more than 0");
        }
        if self.event_retention < Duration::from_secs(60) {
            return invalid("event_retention_seconds must be at least 60");
        }
        // Within what PostgreSQL's intervals and the schedule's arithmetic hold.
        let year = Duration::from_secs(366 * 86_400);
        if self.webhook_timeout > Duration::from_secs(600)
            || self.webhook_retry_base > Duration::from_secs(3600)
            || [
                self.event_retention,
                self.webhook_retry_for,
                self.webhook_secret_grace,
                self.webhook_log_retention,
            ]
            .iter()
            .any(|d| *d > year)
        {
            return invalid(
                "webhook_timeout_ms is at most 600000, webhook_retry_base_ms at most 3600000, and the event, webhook retry, secret grace and log retention periods at most a year",
            );
        }
        if !self.metrics_addr.is_empty() && self.metrics_addr.parse::<SocketAddr>().is_err() {
            return invalid(
                "metrics_addr must be an IP address and port (such as 0.0.0.0:9090), or empty",
            );
        }
        let redis_urls: Vec<&str> = self.redis_url.expose().split(',').collect();
        // The Redis client is built without TLS: say so here, not at the first command.
        if redis_urls
            .iter()
            .any(|u| u.trim().starts_with("rediss://") || u.trim().starts_with("valkeys://"))
        {
            return invalid(
                "redis_url: rediss:// (TLS) is not supported by this build; reach Redis over a private network or through a TLS tunnel (stunnel) with redis://",
            );
        }
        if redis_urls
            .iter()
            .any(|u| redis::parse_redis_url(u.trim()).is_none())
            || (redis_urls.len() > 1 && !self.redis_cluster)
        {
            return invalid(
                "redis_url must be a redis:// or unix URL, or with redis_cluster=true a comma-separated list of them",
            );
        }
        if self.job_delivery_limit < 2 {
            return invalid("job_delivery_limit must be at least 2");
        }
        if self.retry_max_attempts == 0 {
            return invalid("retry_max_attempts must be at least 1");
        }
        if self.prefix.is_empty()
            || !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return invalid(
                "prefix must be non-empty and use only letters, digits, '.', '_' and '-'",
            );
        }
        if self.log_format != "json" && self.log_format != "text" {
            return invalid("log_format must be json or text");
        }
        self.egress_policy().map_err(ConfigError::Invalid)?;
        // Checked here, once, with a message of our own: the AMQP client's would quote
        // the whole URL, password and all, in every reconnect's log line.
        if self
            .amqp_url
            .expose()
            .parse::<lapin::uri::AMQPUri>()
            .is_err()
        {
            return invalid("amqp_url is not an AMQP URL (amqp://user:password@host:port/vhost)");
        }
        Ok(())
    }

    pub fn egress_policy(&self) -> Result<crate::egress::EgressPolicy, String> {
        crate::egress::EgressPolicy::new(
            &self.egress_allow,
            &self.egress_deny,
            self.egress_allow_private,
        )
    }

    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }
    pub fn jobs_queue(&self) -> String {
        format!("{}.jobs", self.prefix)
    }
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.jobs.dead", self.prefix)
    }
    pub fn retry_exchange(&self) -> String {
        format!("{}.jobs.retry", self.prefix)
    }
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }
    pub fn redis_prefix(&self) -> String {
        format!("{}:", self.prefix)
    }
    /// The delay before retry number `attempt` (1-based): exponential, capped.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.retry_base_delay
            .saturating_mul(factor)
            .min(self.retry_max_delay)
    }
}

/// `ONRAMP_WORKER_CONCURRENCY=8` sets `worker_concurrency`; the value is read as
/// the type of the setting it replaces.
fn apply_env(
    shape: &Map<String, Value>,
    merged: &mut Map<String, Value>,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(key) = name.strip_prefix("ONRAMP_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        // Not settings of the service: the config file's path, and the people's
        // commands' API and token (a shell that has them set still runs `serve`).
        if key == "config" || key == "api_url" || key == "token" {
            continue;
        }
        let Some(current) = shape.get(&key) else {
            return Err(ConfigError::Env {
                name: name.clone(),
                message: "no such setting".into(),
            });
        };
        let bad = |m: &str| ConfigError::Env {
            name: name.clone(),
            message: m.into(),
        };
        let value = match current {
            Value::Number(_) => Value::Number(
                raw.trim()
                    .parse::<u64>()
                    .map_err(|_| bad("must be a whole number"))?
                    .into(),
            ),
            Value::Bool(_) => Value::Bool(
                raw.trim()
                    .parse()
                    .map_err(|_| bad("must be true or false"))?,
            ),
            _ => Value::String(raw.clone()),
        };
        merged.insert(key, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults_with_the_setting_type() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("ONRAMP_WORKER_CONCURRENCY", "8"),
                ("ONRAMP_SECRET_KEY", "k"),
                ("ONRAMP_MINIMUM_SSL_MODE", "verify-ca"),
            ]),
        )
        .unwrap();
        assert_eq!(s.worker_concurrency, 8);
        assert_eq!(s.minimum_ssl_mode, crate::egress::tls::SslMode::VerifyCa);
        assert_eq!(s.secret_key.as_ref().map(Secret::expose), Some("k"));
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn durations_and_addresses_are_read_in_their_units_and_checked() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("ONRAMP_CONNECT_TIMEOUT_MS", "2500"),
                ("ONRAMP_STREAM_MAX_SECONDS", "7"),
                ("ONRAMP_HTTP_ADDR", "[::1]:9000"),
            ]),
        )
        .unwrap();
        assert_eq!(s.connect_timeout, Duration::from_millis(2500));
        assert_eq!(s.stream_max, Duration::from_secs(7));
        assert_eq!(s.http_addr, "[::1]:9000".parse::<SocketAddr>().unwrap());
        let e = Settings::load_from(None, &env(&[("ONRAMP_HTTP_ADDR", "localhost")])).unwrap_err();
        assert!(e.to_string().contains("not an IP address and port"), "{e}");
    }

    #[test]
    fn a_bad_file_or_url_is_refused_without_quoting_a_password() {
        let dir = std::env::temp_dir().join(format!("onramp-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(
            &file,
            "prefix = \"x\"\ndatabase_url = \"postgres://u:file-pass@db/x\n",
        )
        .unwrap();
        let e = Settings::load_from(Some(&file), &[])
            .unwrap_err()
            .to_string();
        assert!(!e.contains("file-pass"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        let e = Settings::load_from(None, &env(&[("ONRAMP_AMQP_URL", "amqp:u:mq-pass@host")]))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("mq-pass") && e.contains("amqp_url"), "{e}");
        let e = Settings::load_from(None, &env(&[("ONRAMP_HTTP_ADDR", "api:8080")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("http_addr \"api:8080\""), "{e}");
    }

    #[test]
    fn redis_urls_are_one_url_or_a_cluster_list_and_never_tls() {
        let load = |pairs: &[(&str, &str)]| Settings::load_from(None, &env(pairs));
        let nodes = "redis://:pw-1@10.0.0.5:6379/,redis://:pw-1@10.0.0.6:6379/";
        let e = load(&[("ONRAMP_REDIS_URL", nodes)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("redis_cluster=true") && !e.contains("pw-1"),
            "{e}"
        );
        let s = load(&[
            ("ONRAMP_REDIS_URL", nodes),
            ("ONRAMP_REDIS_CLUSTER", "true"),
        ])
        .unwrap();
        assert!(s.redis_cluster);
        let e = load(&[("ONRAMP_REDIS_URL", "rediss://:pw-2@cache:6380/")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("TLS") && !e.contains("pw-2"), "{e}");
        let e = load(&[("ONRAMP_REDIS_URL", "http://cache/")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("redis_url"), "{e}");
    }

    #[test]
    fn secrets_in_settings_never_print() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("ONRAMP_SECRET_KEY", "the-key-itself"),
                ("ONRAMP_DATABASE_URL", "postgres://u:pg-pass@db/onramp"),
                ("ONRAMP_AMQP_URL", "amqp://u:mq-pass@mq:5672/%2f"),
            ]),
        )
        .unwrap();
        let printed = format!("{s:?} {}", serde_json::to_string(&s).unwrap());
        for secret in ["the-key-itself", "pg-pass", "mq-pass", "guest:guest"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert_eq!(s.database_url.expose(), "postgres://u:pg-pass@db/onramp");
    }

    #[test]
    fn an_unknown_or_mistyped_variable_is_an_error_naming_it() {
        let e = Settings::load_from(None, &env(&[("ONRAMP_WORKER_CONCURENCY", "8")])).unwrap_err();
        assert!(e.to_string().contains("ONRAMP_WORKER_CONCURENCY"));
        let e =
            Settings::load_from(None, &env(&[("ONRAMP_WORKER_CONCURRENCY", "many")])).unwrap_err();
        assert!(e.to_string().contains("whole number"));
    }

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let s = Settings::default();
        assert_eq!(s.retry_delay(1), Duration::from_secs(1));
        assert_eq!(s.retry_delay(3), Duration::from_secs(4));
        assert_eq!(s.retry_delay(30), Duration::from_secs(60));
    }
}
