//! A subscriber on the events exchange, as a service reacting to onramp would be.

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::Value;

pub struct Subscriber {
    _conn: lapin::Connection,
    consumer: lapin::Consumer,
}

pub struct Received {
    pub routing_key: String,
    pub body: Value,
}

impl Subscriber {
    /// Binds a private queue to `exchange` with `pattern`; the exchange is declared
    /// as onramp declares it, so subscribing first loses nothing.
    pub async fn bind(exchange: &str, kind: lapin::ExchangeKind, pattern: &str) -> Subscriber {
        let conn =
            lapin::Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f", Default::default())
                .await
                .unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.exchange_declare(
            exchange.into(),
            kind,
            lapin::options::ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
        let q = ch
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        ch.queue_bind(
            q.name().clone(),
            exchange.into(),
            pattern.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        let consumer = ch
            .basic_consume(
                q.name().clone(),
                "test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Subscriber {
            _conn: conn,
            consumer,
        }
    }

    pub async fn events(settings: &onramp::config::Settings) -> Subscriber {
        Self::bind(&settings.events_exchange(), lapin::ExchangeKind::Topic, "#").await
    }

    /// The next message, or `None` after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<Received> {
        let delivery = tokio::time::timeout(limit, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        delivery.ack(BasicAckOptions::default()).await.ok();
        Some(Received {
            routing_key: delivery.routing_key.to_string(),
            body: serde_json::from_slice(&delivery.data).unwrap_or(Value::Null),
        })
    }

    /// The next event of `event_type`, skipping others.
    pub async fn next_of(&mut self, event_type: &str, limit: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let got = self.next(left).await?;
            if got.body["type"] == event_type {
                return Some(got);
            }
        }
    }

    /// Every message that arrives within `window`.
    pub async fn drain(&mut self, window: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        while let Some(r) = self.next(window).await {
            out.push(r);
        }
        out
    }
}
