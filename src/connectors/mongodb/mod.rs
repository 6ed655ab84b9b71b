//! MongoDB through the official driver: by host and port or by a connection
//! string (`mongodb://`, `mongodb+srv://`) read against an allow-list. Discovery
//! lists databases and collections and infers each collection's fields from a
//! bounded sample.
//!
//! Egress: the driver opens no connection of its own choosing. Every seed is
//! resolved and checked by the egress guard (an SRV record's targets too), one
//! checked address is pinned, and the driver talks to it through a relay on a
//! private Unix socket, with a direct connection and TLS done by the relay against
//! the real host name.

pub mod config;
pub mod discover;
pub mod infer;
mod relay;
pub mod session;
mod uri;
pub mod wire;

crate::connector!(
    Mongodb(config::MongoConfig, session::MongoSession)
    [check, list_databases, close, cleartext, ssl_mode]
);
