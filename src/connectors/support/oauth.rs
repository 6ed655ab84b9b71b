//! An OAuth 2.0 token request (RFC 6749 §4.4 client credentials, RFC 7523 JWT
//! bearer grant): a form POST through the egress guard, the `access_token` of a 200
//! answer, and a refusal (400, 401, 403) told apart from a broken endpoint.

use secrecy::SecretString;
use serde_json::Value;

use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

/// What the caller says when the grant is refused, and where to look otherwise.
pub struct Wording {
    pub refused: &'static str,
    pub refused_hint: &'static str,
    pub endpoint: &'static str,
    pub endpoint_hint: &'static str,
}

/// `client_auth`: the client's id and secret as HTTP Basic credentials (RFC 6749
/// §2.3.1), for servers that take them there rather than in the form.
pub async fn token(
    client: &GuardedClient,
    url: &str,
    form: &[(&str, &str)],
    client_auth: Option<(&str, &str)>,
    wording: &Wording,
) -> Result<SecretString, ConnectorError> {
    let mut request = client.request(reqwest::Method::POST, url)?.form(form);
    if let Some((id, secret)) = client_auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = client.send(request).await?;
    let status = response.status().as_u16();
    let body: Value = client.read_json(response).await?;
    if let Some(token) = body["access_token"].as_str().filter(|_| status == 200) {
        return Ok(SecretString::from(token.to_string()));
    }
    let why = super::limits::short(
        body["error_description"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("no token in the answer"),
    );
    Err(match status {
        400 | 401 | 403 => ConnectorError::new(
            Fault::Authentication,
            format!("{}: {why}", wording.refused),
            wording.refused_hint,
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("{} answered http {status}: {why}", wording.endpoint),
            wording.endpoint_hint,
        ),
    })
}
