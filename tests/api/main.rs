//! Black-box tests: onramp in-process (or as a subprocess) against the machine's real
//! PostgreSQL, MariaDB, RabbitMQ and Redis.

mod athena;
mod awss3;
mod bad_input;
mod cli;
mod clickhouse;
mod create;
mod csv;
mod databricks;
mod delivery;
mod egress;
mod helpers;
mod lifecycle;
mod operations;
mod search;
mod target_faults;
mod trace_propagation;
mod trino;
mod wire_types;

#[path = "../common/egress.rs"]
mod support_egress;
