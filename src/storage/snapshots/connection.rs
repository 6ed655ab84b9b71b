//! One Redis, or a Redis Cluster: both reconnect by themselves, and the store's
//! scripts and commands run on either, because every key of a datasource carries its
//! organisation as a hash tag and so lives in one slot.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::CacheError;
use crate::config::Settings;

/// How to reach Redis; nothing is dialled until the first command.
pub enum Target {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

impl Target {
    /// `redis_url` is one URL, or with `redis_cluster` a comma-separated list of the
    /// cluster's nodes to start from (the others are found from them).
    pub fn from_settings(settings: &Settings) -> Result<Target, CacheError> {
        let urls: Vec<&str> = settings
            .redis_url
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        if !settings.redis_cluster {
            return Ok(Target::Single(redis::Client::open(
                settings.redis_url.expose().trim(),
            )?));
        }
        let client = ClusterClient::builder(urls)
            .connection_timeout(settings.cache_timeout)
            .response_timeout(settings.cache_timeout)
            .retries(2)
            .max_retry_wait(500)
            .build()?;
        Ok(Target::Cluster(Box::new(client)))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster(_))
    }

    pub async fn connect(&self, timeout: Duration) -> Result<Connection, CacheError> {
        match self {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                let c = ConnectionManager::new_with_config(client.clone(), config).await?;
                Ok(Connection::Single(c))
            }
            Target::Cluster(client) => {
                let c = tokio::time::timeout(timeout, client.get_async_connection())
                    .await
                    .map_err(|_| {
                        redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "no node of the redis cluster answered in time",
                        ))
                    })??;
                Ok(Connection::Cluster(c))
            }
        }
    }
}

/// A connection to either; cheap to clone (both are handles on a shared multiplexer).
#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}
