//! Webhooks as the Standard Webhooks specification describes them: a `whsec_`
//! signing secret, the `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! headers, and retries that back off exponentially with jitter.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::events::{
    DATASOURCE_DELETED, DATASOURCE_FAILED, DATASOURCE_READY, DATASOURCE_SCHEMA_CHANGED,
    JOB_PROGRESS,
};

/// Published when onramp turns a webhook off (too many failures in a row, or a
/// delivery that kept failing for the whole retry window).
pub const WEBHOOK_DISABLED: &str = "webhook.disabled";
/// Sent to one webhook only, by `POST /api/v2/webhooks/{id}/test`.
pub const WEBHOOK_TEST: &str = "webhook.test";

/// The types a webhook may subscribe to (besides `*`, every one).
pub const EVENT_TYPES: [&str; 7] = [
    DATASOURCE_READY,
    DATASOURCE_FAILED,
    DATASOURCE_DELETED,
    DATASOURCE_SCHEMA_CHANGED,
    JOB_PROGRESS,
    WEBHOOK_DISABLED,
    WEBHOOK_TEST,
];

const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 24;

/// A signing secret. `Debug` never shows it; it is shown to the user once, when it
/// is made, and stored sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

impl SigningSecret {
    pub fn generate() -> SigningSecret {
        let bytes: [u8; SECRET_BYTES] = rand::random();
        SigningSecret(bytes.to_vec())
    }

    /// `whsec_` and the key in base64, the form receivers' libraries take.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    pub fn parse(text: &str) -> Option<SigningSecret> {
        SigningSecret::from_bytes(STANDARD.decode(text.strip_prefix(SECRET_PREFIX)?).ok()?)
    }

    /// The key itself, as stored sealed; `None` when empty.
    pub fn from_bytes(key: Vec<u8>) -> Option<SigningSecret> {
        (!key.is_empty()).then_some(SigningSecret(key))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("hmac takes any key length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated (the
/// current one first; during a rotation's grace the previous one too).
pub fn signature_header(
    secrets: &[&SigningSecret],
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// When the next attempt goes, after `attempt` failures (1 for the first): `base`
/// doubled each time up to six hours, each pause drawn at random from its upper half
/// (jitter, so that endpoints that failed together are not retried together), or
/// `None` when the next would start past `give_up_after` since the first attempt.
pub fn next_attempt_in(
    base: Duration,
    attempt: u32,
    since_first: Duration,
    give_up_after: Duration,
    jitter: f64,
) -> Option<Duration> {
    let ceiling = Duration::from_secs(6 * 3600);
    let exp = attempt.saturating_sub(1).min(20);
    let full = base.saturating_mul(1u32 << exp).min(ceiling);
    let pause = full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    (since_first + pause < give_up_after).then_some(pause)
}

/// Whether a webhook subscribed to `events` takes an event of `event_type`.
pub fn subscribed(events: &[String], event_type: &str) -> bool {
    events.iter().any(|e| e == "*" || e == event_type)
}

/// A receiver took the delivery when it answered 2xx; anything else (a redirect
/// included: they are not followed) is a failure to retry.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_signature_is_reproduced() {
        // The example of the Standard Webhooks specification.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_round_trips_and_never_prints() {
        let s = SigningSecret::generate();
        assert!(s.to_text().starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&s.to_text()), Some(s.clone()));
        assert!(!format!("{s:?}").contains(&s.to_text()[6..]));
        assert_eq!(SigningSecret::parse("nope"), None);
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let (new, old) = (SigningSecret::generate(), SigningSecret::generate());
        let header = signature_header(&[&new, &old], "id", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            vec![new.sign("id", 1, b"{}"), old.sign("id", 1, b"{}")]
        );
    }

    #[test]
    fn backoff_doubles_within_its_jitter_and_gives_up_after_the_window() {
        let base = Duration::from_secs(5);
        let day = Duration::from_secs(86_400);
        let first = next_attempt_in(base, 1, Duration::ZERO, day, 0.0).unwrap();
        assert_eq!(first, Duration::from_millis(2500));
        assert_eq!(
            next_attempt_in(base, 1, Duration::ZERO, day, 1.0).unwrap(),
            base
        );
        assert_eq!(
            next_attempt_in(base, 4, Duration::ZERO, day, 1.0).unwrap(),
            Duration::from_secs(40)
        );
        // Capped at six hours however many failures.
        assert_eq!(
            next_attempt_in(base, 60, Duration::ZERO, Duration::MAX, 1.0).unwrap(),
            Duration::from_secs(6 * 3600)
        );
        assert_eq!(
            next_attempt_in(base, 2, day - Duration::from_secs(1), day, 0.5),
            None
        );
    }

    #[test]
    fn subscriptions_and_outcomes() {
        assert!(subscribed(&["*".into()], "job.progress"));
        assert!(subscribed(&["datasource.ready".into()], "datasource.ready"));
        assert!(!subscribed(
            &["datasource.ready".into()],
            "datasource.failed"
        ));
        assert!(delivered(204) && !delivered(302) && !delivered(500));
    }
}
