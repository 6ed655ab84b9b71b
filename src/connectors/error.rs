//! The typed errors a connector returns; the worker turns them into job errors.

use serde::Serialize;

/// What went wrong at the target, as far as a user needs to know to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Name did not resolve, or nothing accepted the connection.
    Unreachable,
    /// The target did not answer within the phase timeout.
    Timeout,
    /// The target rejected the user or password.
    Authentication,
    /// The named database (or schema) does not exist.
    UnknownDatabase,
    /// TLS was required by one side and refused or failed on the other.
    Tls,
    /// The user may connect but lacks a privilege discovery needs.
    Permission,
    /// The target answered something onramp did not expect.
    Protocol,
    /// The egress policy refused the target's address; nothing was sent to it.
    Egress,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    pub fault: Fault,
    pub message: String,
    pub hint: String,
}

impl ConnectorError {
    pub fn new(fault: Fault, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ConnectorError {
            fault,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn unreachable(host: &str, port: u16, cause: impl std::fmt::Display) -> Self {
        ConnectorError::new(
            Fault::Unreachable,
            format!("could not reach {host}:{port}: {cause}"),
            "check the host and port, and that the server accepts connections from onramp's workers",
        )
    }

    pub fn timeout(what: &str, after: std::time::Duration) -> Self {
        ConnectorError::new(
            Fault::Timeout,
            format!("{what} timed out after {} ms", after.as_millis()),
            "the server accepted the connection but did not answer in time: check that it is a database server of the chosen type and that it is not overloaded",
        )
    }
}
