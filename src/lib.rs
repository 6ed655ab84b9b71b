//! onramp: onboards customers' databases and warehouses into an analytics platform.
//! The API records and queues; workers validate, connect, discover, cache and announce.

pub mod cli;
pub mod client;
pub mod config;
pub mod connectors;
pub mod domain;
pub mod egress;
pub mod http;
pub mod queue;
pub mod schemas;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
pub mod worker;
