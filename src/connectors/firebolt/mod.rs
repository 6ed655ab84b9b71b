//! Firebolt: an OAuth client-credentials token from the identity service, the
//! account's system engine URL from the API, `USE DATABASE` and `USE ENGINE` on it
//! (the answers' `Firebolt-Update-*` headers move the session to the user engine),
//! then plain SQL over HTTP with JSON_Compact results. Every request goes through
//! the egress guard.

pub mod config;
pub mod discover;
pub mod session;

crate::connector!(Firebolt(config::FireboltConfig, session::FireboltSession)[list_databases]);
