//! Durable state in PostgreSQL (sqlx) and schema snapshots in Redis.

pub mod crypto;
pub mod datasources;
pub mod events;
pub mod jobs;
pub mod outbox;
pub mod schema_changes;
pub mod snapshots;
pub mod test_jobs;
pub mod tokens;
pub mod webhooks;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Settings;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The channel the outbox relay listens on for new rows.
pub const OUTBOX_CHANNEL: &str = "onramp_outbox";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("postgres: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    #[error(transparent)]
    Cache(#[from] snapshots::CacheError),
    #[error("stored record is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the fault is PostgreSQL being unreachable or overloaded, not a bug.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Db(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    // A connection cut mid-handshake reads as garbled protocol.
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::WorkerCrashed
            )
        ) || matches!(self, StoreError::Db(sqlx::Error::Database(e))
            // connection exceptions, operator intervention, insufficient resources
            if e.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")))
    }
}

/// Opens a pool without touching the server: connections are made on first use,
/// so a process starts while PostgreSQL is still coming up.
pub fn pool(settings: &Settings) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = settings.database_url.expose().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.database_pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.application_name("onramp")))
}

pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Db(e.into()))
}

/// Creates the database named in the URL when it does not exist yet, so that
/// `onramp serve` works on a fresh machine with no set-up.
pub async fn ensure_database(settings: &Settings) -> Result<(), StoreError> {
    use sqlx::Connection;
    let options: PgConnectOptions = settings.database_url.expose().parse()?;
    let Some(name) = options.get_database().map(str::to_string) else {
        return Ok(());
    };
    // Most deployments have the database already, and their user may not reach any other.
    match sqlx::PgConnection::connect_with(&options).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() != Some("3D000") => {
            return Err(e.into());
        }
        Err(_) => {}
    }
    let admin = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&admin).await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_none() {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let create = format!("CREATE DATABASE {quoted}");
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut conn)
            .await
        {
            // Another process may have created it at the same moment.
            let duplicate = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "42P04" || c == "23505");
            if !duplicate {
                return Err(e.into());
            }
        }
        tracing::info!(database = %name, "created onramp's database");
    }
    Ok(())
}
