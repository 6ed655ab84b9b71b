//! RabbitMQ: the topology onramp declares, and a reconnecting, confirming publisher.

pub mod relay;

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;

use crate::config::Settings;

pub use crate::domain::JOB_ROUTING_KEY;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("rabbitmq: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("rabbitmq closed the consumer")]
    Closed,
    #[error("rabbitmq did not confirm the message")]
    Nacked,
    #[error("rabbitmq did not answer within {0:?}")]
    Timeout(Duration),
}

/// One AMQP connection with a confirm-mode channel for publishing, reopened on demand
/// after the broker or the network fails.
pub struct Broker {
    settings: Arc<Settings>,
    state: Mutex<Option<(Connection, Channel)>>,
}

impl Broker {
    pub fn new(settings: Arc<Settings>) -> Broker {
        Broker {
            settings,
            state: Mutex::new(None),
        }
    }

    /// Opens a new connection and declares the topology (idempotent).
    pub async fn connect(settings: &Settings, name: &str) -> Result<Connection, QueueError> {
        let props = ConnectionProperties::default()
            .with_connection_name(LongString::from(format!("onramp-{name}")));
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            Connection::connect(settings.amqp_url.expose(), props),
        )
        .await
        .map_err(|_| QueueError::Timeout(Duration::from_secs(10)))??;
        let channel = conn.create_channel().await?;
        match declare_topology(&channel, settings).await {
            Ok(()) => {
                let _ = channel.close(200, "topology declared".into()).await;
            }
            // A jobs queue declared by an older onramp has other arguments (no
            // delivery limit): the broker refuses the new declaration and closes the
            // channel. The queue works as it is; say how to add the limit.
            Err(QueueError::Amqp(e)) if e.to_string().contains("PRECONDITION_FAILED") => {
                let delivery_limit = settings.job_delivery_limit * 4;
                tracing::warn!(queue = %settings.jobs_queue(), delivery_limit, error = %e, "the jobs queue exists with other arguments; add the delivery limit with a policy: rabbitmqctl set_policy onramp-jobs '^<prefix>\\.jobs$' '{{\"delivery-limit\":<delivery_limit>}}' --apply-to queues");
                let channel = conn.create_channel().await?;
                let passive = QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                };
                channel
                    .queue_declare(
                        settings.jobs_queue().as_str().into(),
                        passive,
                        FieldTable::default(),
                    )
                    .await?;
                let _ = channel.close(200, "topology checked".into()).await;
            }
            Err(e) => return Err(e),
        }
        Ok(conn)
    }

    async fn channel(&self) -> Result<Channel, QueueError> {
        let mut state = self.state.lock().await;
        if let Some((conn, channel)) = state.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        if let Some((conn, _)) = state.take() {
            let _ = conn.close(200, "reconnecting".into()).await;
        }
        let conn = Self::connect(&self.settings, "publisher").await?;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *state = Some((conn, channel.clone()));
        Ok(channel)
    }

    /// Publishes persistent messages and waits until the broker confirms every one.
    pub async fn publish_all(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        let limit = Duration::from_secs(10);
        let result = tokio::time::timeout(limit, async {
            let channel = self.channel().await?;
            let mut confirms = Vec::with_capacity(messages.len());
            for m in messages {
                confirms.push(
                    channel
                        .basic_publish(
                            ShortString::from(m.exchange.as_str()),
                            ShortString::from(m.routing_key.as_str()),
                            BasicPublishOptions::default(),
                            &m.payload,
                            m.properties(),
                        )
                        .await?,
                );
            }
            for confirm in confirms {
                if !confirm.await?.is_ack() {
                    return Err(QueueError::Nacked);
                }
            }
            Ok(())
        })
        .await;
        let result = result.unwrap_or(Err(QueueError::Timeout(limit)));
        if result.is_err() {
            // Whatever broke, start from a fresh connection next time.
            self.state.lock().await.take();
        }
        result
    }

    pub async fn is_connected(&self) -> bool {
        self.channel().await.is_ok()
    }

    /// Messages ready and consumers of `queue`, as the broker counts them (a
    /// passive declare on a channel of its own, so that an error closes no
    /// publisher's channel).
    pub async fn queue_counts(&self, queue: &str) -> Result<(u32, u32), QueueError> {
        let limit = Duration::from_secs(2);
        tokio::time::timeout(limit, async {
            // Connects when the publisher has no connection yet.
            self.channel().await?;
            let state = self.state.lock().await;
            let Some((conn, _)) = state.as_ref() else {
                return Err(QueueError::Closed);
            };
            let channel = conn.create_channel().await?;
            drop(state);
            let declared = channel
                .queue_declare(
                    queue.into(),
                    lapin::options::QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await;
            let _ = channel.close(200, "counted".into()).await;
            let q = declared?;
            Ok((q.message_count(), q.consumer_count()))
        })
        .await
        .map_err(|_| QueueError::Timeout(limit))?
    }
}

/// A message ready to publish: where, what, and the headers that carry the trace.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub exchange: String,
    pub routing_key: String,
    pub payload: Vec<u8>,
    pub message_id: String,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
}

impl OutgoingMessage {
    fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        for (k, v) in &self.headers {
            headers.insert(k.as_str().into(), AMQPValue::LongString(v.as_str().into()));
        }
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(self.content_type.into())
            .with_message_id(self.message_id.as_str().into())
            .with_headers(headers)
    }
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn args(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in pairs {
        table.insert((*k).into(), v.clone());
    }
    table
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// The delays of the retry queues, one per attempt; part of each queue's name so
/// that changing the delays never collides with queues declared before.
pub fn retry_delays(settings: &Settings) -> Vec<u64> {
    let mut delays: Vec<u64> = (1..=settings.retry_max_attempts)
        .map(|a| settings.retry_delay(a).as_millis() as u64)
        .collect();
    delays.dedup();
    delays
}

pub fn retry_queue(settings: &Settings, delay_ms: u64) -> String {
    format!("{}.jobs.retry.{delay_ms}ms", settings.prefix)
}

/// Declares exchanges and queues: a quorum jobs queue that dead-letters to a dead
/// queue, one TTL queue per retry delay that dead-letters back into the jobs
/// exchange, and the topic exchange for events.
pub async fn declare_topology(channel: &Channel, s: &Settings) -> Result<(), QueueError> {
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let jobs_x = s.jobs_exchange();
    let dead_x = format!("{}.dead", s.jobs_exchange());
    for (exchange, kind) in [
        (jobs_x.clone(), ExchangeKind::Direct),
        (dead_x.clone(), ExchangeKind::Fanout),
        (s.retry_exchange(), ExchangeKind::Direct),
        (s.events_exchange(), ExchangeKind::Topic),
    ] {
        channel
            .exchange_declare(
                exchange.as_str().into(),
                kind,
                durable_exchange,
                FieldTable::default(),
            )
            .await?;
    }

    let quorum = text("quorum");
    channel
        .queue_declare(
            s.dead_letter_queue().as_str().into(),
            durable(),
            args(&[("x-queue-type", quorum.clone())]),
        )
        .await?;
    channel
        .queue_bind(
            s.dead_letter_queue().as_str().into(),
            dead_x.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for delay in retry_delays(s) {
        let queue = retry_queue(s, delay);
        channel
            .queue_declare(
                queue.as_str().into(),
                durable(),
                args(&[
                    ("x-message-ttl", AMQPValue::LongLongInt(delay as i64)),
                    ("x-dead-letter-exchange", text(&jobs_x)),
                    ("x-dead-letter-routing-key", text(JOB_ROUTING_KEY)),
                ]),
            )
            .await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                s.retry_exchange().as_str().into(),
                delay.to_string().as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    // The jobs queue last: one declared by an older onramp with other arguments is
    // refused by the broker, and everything else is declared by then.
    channel
        .queue_declare(
            s.jobs_queue().as_str().into(),
            durable(),
            args(&[
                ("x-queue-type", quorum.clone()),
                ("x-dead-letter-exchange", text(&dead_x)),
                // A backstop: a message whose consumers keep dying before they can
                // even claim its job ends in the dead-letter queue. Well above the
                // workers' own limit, since requeues on shutdown count here too.
                (
                    "x-delivery-limit",
                    AMQPValue::LongLongInt(i64::from(s.job_delivery_limit) * 4),
                ),
            ]),
        )
        .await?;
    channel
        .queue_bind(
            s.jobs_queue().as_str().into(),
            jobs_x.as_str().into(),
            JOB_ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}
