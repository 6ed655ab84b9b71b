//! What went wrong at a target, in the words a user needs to fix it: the typed
//! error connectors and the egress guard return, and the worker turns into job errors.

use super::text::cut_target_text;
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
    /// The target's answer went past a limit (size, depth, pages); it was not read on.
    Limit,
    /// The target is at its limit for now (too many connections, rate limited,
    /// starting up): worth trying again within the job's time.
    Busy,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    pub fault: Fault,
    pub message: String,
    pub hint: String,
}

/// The most of a target's text a job row or an event carries. A server decides what
/// its error messages say and how long they are; a job row is read by tenants and
/// published through the broker, so what it quotes is cut here, in one place.
pub const TARGET_TEXT_MAX_BYTES: usize = 4096;

impl ConnectorError {
    /// Every connector error passes here, so a server's text in it is always bounded.
    pub fn new(fault: Fault, message: impl Into<String>, hint: impl Into<String>) -> Self {
        ConnectorError {
            fault,
            message: cut_target_text(&message.into(), TARGET_TEXT_MAX_BYTES),
            hint: cut_target_text(&hint.into(), TARGET_TEXT_MAX_BYTES / 4),
        }
    }

    pub fn unreachable(host: &str, port: u16, cause: impl std::fmt::Display) -> Self {
        ConnectorError::new(
            Fault::Unreachable,
            format!("could not reach {host}:{port}: {cause}"),
            "check the host and port, and that the server accepts connections from onramp's workers",
        )
    }

    /// The hint every `Busy` fault ends with when the retries run out.
    pub const BUSY_HINT: &'static str = "the server is at its connection limit (or rate limit): raise the limit for onramp's user, or sync again when the server is less busy";

    pub fn timeout(what: &str, after: std::time::Duration) -> Self {
        ConnectorError::new(
            Fault::Timeout,
            format!("{what} timed out after {} ms", after.as_millis()),
            "the server accepted the connection but did not answer in time: check that it is a database server of the chosen type and that it is not overloaded",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_long_text_is_cut_on_a_character_boundary_and_marked() {
        let long = "é".repeat(10_000);
        let e = ConnectorError::new(Fault::Protocol, format!("server said: {long}"), "h");
        assert!(
            e.message.len() <= TARGET_TEXT_MAX_BYTES + 40,
            "{}",
            e.message.len()
        );
        assert!(
            e.message.ends_with("more bytes]"),
            "{}",
            &e.message[e.message.len() - 40..]
        );
        assert!(e.message.starts_with("server said: é"));
        let short = ConnectorError::new(Fault::Protocol, "fine", "h");
        assert_eq!(short.message, "fine");
    }

    #[test]
    fn control_characters_of_a_server_cannot_forge_lines_or_escapes() {
        let e = ConnectorError::new(Fault::Protocol, "a\r\u{1b}[31mb\nc", "h");
        assert_eq!(e.message, "a\u{fffd}\u{fffd}[31mb\nc");
    }
}
