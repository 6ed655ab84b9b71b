//! Black-box tests: onramp in-process (or as a subprocess) against the machine's real
//! PostgreSQL, MariaDB, RabbitMQ and Redis.

mod athena;
mod aws_roles;
mod awss3;
mod bad_input;
mod bigquery;
mod cli;
mod clickhouse;
mod create;
mod csv;
mod databrain_shapes;
mod databricks;
mod delivery;
mod delivery_races;
mod discovery_progress;
mod drift;
mod egress;
mod event_contract;
mod event_stream;
mod fairness;
mod fidelity;
mod firebolt;
mod helpers;
mod hostile_delivery;
mod hostile_mongodb;
mod hostile_names;
mod hostile_requests;
mod hostile_targets;
mod lifecycle;
mod metrics;
mod mongodb;
mod mssql;
mod operations;
mod people_cli;
mod permissions;
mod schema_filters;
mod schema_reads;
mod search;
mod snapshot_store;
mod snowflake;
mod target_busy;
mod target_faults;
mod test_without_saving;
mod tls;
mod tls_http;
mod trace_propagation;
mod trino;
mod tunnel_failures;
mod tunnels;
mod webhooks;
mod wire_types;

#[path = "../common/egress.rs"]
mod support_egress;
