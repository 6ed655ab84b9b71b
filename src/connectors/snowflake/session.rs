//! The connector protocol: `login-request` (password or key-pair JWT), then
//! `query-request` with the session token, polling `getResultUrl` while a query
//! runs and fetching result chunks from cloud storage with the headers the answer
//! names. Every request goes through the egress guard.

use crate::connectors::support::limits::short;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::config::SnowflakeConfig;
use super::{keypair, results};
use crate::connectors::Net;
use crate::connectors::support::rsa_jwt;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

pub struct SnowflakeSession {
    client: GuardedClient,
    base: String,
    token: SecretString,
    sequence: u64,
}

/// A Snowflake answer with `success: false`, by its documented code and message.
fn failure(body: &Value, during: &str) -> ConnectorError {
    let code = body["code"].as_str().unwrap_or("");
    let message = short(body["message"].as_str().unwrap_or("no message"));
    let lower = message.to_ascii_lowercase();
    match code {
        // 390100 wrong user or password; 390144 JWT invalid; 394304 JWT key not registered.
        "390100" | "390144" | "394304" | "390102" | "390422" => ConnectorError::new(
            Fault::Authentication,
            format!("snowflake refused the login ({code}): {message}"),
            "check the user and password, or that the key's public half is set on the user (ALTER USER ... SET RSA_PUBLIC_KEY)",
        ),
        _ if lower.contains("does not exist or not authorized")
            || lower.contains("does not have a current database") =>
        {
            ConnectorError::new(
                Fault::UnknownDatabase,
                format!("{during}: {message}"),
                "check the database, schema and warehouse names, and that the role may use them",
            )
        }
        _ if lower.contains("role") && lower.contains("not granted") => ConnectorError::new(
            Fault::Permission,
            format!("{during}: {message}"),
            "grant the role to the user, or leave role empty for the default role",
        ),
        _ if lower.contains("insufficient privileges") => ConnectorError::new(
            Fault::Permission,
            format!("{during}: {message}"),
            "grant USAGE on the warehouse, database and schemas to the role",
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("{during} failed ({code}): {message}"),
            "see the query history in Snowflake",
        ),
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl SnowflakeSession {
    async fn post(&self, url: &str, body: &Value) -> Result<Value, ConnectorError> {
        let request = self
            .client
            .request(reqwest::Method::POST, url)?
            .header(
                "authorization",
                format!("Snowflake Token=\"{}\"", self.token.expose_secret()),
            )
            .header("accept", "application/snowflake")
            .json(body);
        read_json(&self.client, self.client.send(request).await?, "the query").await
    }

    async fn get(&self, url: &str) -> Result<Value, ConnectorError> {
        let request = self
            .client
            .request(reqwest::Method::GET, url)?
            .header(
                "authorization",
                format!("Snowflake Token=\"{}\"", self.token.expose_secret()),
            )
            .header("accept", "application/snowflake");
        read_json(&self.client, self.client.send(request).await?, "the query").await
    }

    /// Runs `sql` and returns every row, from the first rowset and every chunk.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, ConnectorError> {
        self.sequence += 1;
        let url = format!(
            "{}/queries/v1/query-request?requestId={}",
            self.base,
            request_id()
        );
        let submitted = chrono::Utc::now().timestamp_millis();
        let mut answer = self
            .post(
                &url,
                &json!({"sqlText": sql, "asyncExec": false, "sequenceId": self.sequence, "querySubmissionTime": submitted}),
            )
            .await?;
        let mut pause = Duration::from_millis(100);
        let mut polls = crate::connectors::Pages::new("polling getResultUrl");
        // 333333 and 333334: the query still runs; its result is at getResultUrl.
        while matches!(answer["code"].as_str(), Some("333333" | "333334")) {
            polls.one_more()?;
            let Some(path) = answer["data"]["getResultUrl"].as_str() else {
                return Err(failure(&answer, "the query"));
            };
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            answer = self.get(&format!("{}{path}", self.base)).await?;
        }
        if answer["success"] != json!(true) {
            return Err(failure(&answer, "the query"));
        }
        let data = &answer["data"];
        let arrow = data["queryResultFormat"].as_str() == Some("arrow");
        let mut rows = if arrow {
            decode_arrow(data["rowsetBase64"].as_str().unwrap_or(""))?
        } else {
            results::json_rows(&data["rowset"])
        };
        let mut chunks = crate::connectors::Pages::new("the result's chunk list");
        for chunk in data["chunks"].as_array().into_iter().flatten() {
            chunks.one_more()?;
            let Some(url) = chunk["url"].as_str() else {
                continue;
            };
            rows.extend(self.chunk(url, data, arrow).await?);
            if rows.len() > crate::connectors::support::limits::MAX_ROWS {
                return Err(ConnectorError::new(
                    Fault::Limit,
                    format!(
                        "the query's result has more than {} rows; onramp stopped reading",
                        crate::connectors::support::limits::MAX_ROWS
                    ),
                    "discover a smaller part of the account (database and schema)",
                ));
            }
        }
        Ok(rows)
    }

    /// A result chunk from cloud storage, with the headers the answer names.
    async fn chunk(
        &self,
        url: &str,
        data: &Value,
        arrow: bool,
    ) -> Result<Vec<Vec<Value>>, ConnectorError> {
        let mut request = self.client.request(reqwest::Method::GET, url)?;
        if let Some(headers) = data["chunkHeaders"].as_object() {
            for (k, v) in headers {
                request = request.header(k.as_str(), v.as_str().unwrap_or(""));
            }
        } else if let Some(qrmk) = data["qrmk"].as_str() {
            request = request
                .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
                .header("x-amz-server-side-encryption-customer-key", qrmk);
        }
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        let bytes = self.client.read_bytes(response).await?;
        if status != 200 {
            return Err(ConnectorError::new(
                Fault::Protocol,
                format!("a result chunk answered http {status}"),
                "retry the job; chunk URLs expire after a few hours",
            ));
        }
        let bytes = gunzip_if_needed(&bytes, self.client.body_limit())?;
        let decoded = if arrow {
            results::arrow_rows(&bytes)
        } else {
            results::json_chunk_rows(&String::from_utf8_lossy(&bytes))
        };
        decoded.map_err(|e| {
            ConnectorError::new(
                Fault::Protocol,
                format!("result chunk: {e}"),
                "retry the job",
            )
        })
    }
}

/// Chunks may come gzip-compressed without a Content-Encoding header. Inflated with
/// a cap: a small compressed chunk can claim gigabytes (a compression bomb).
fn gunzip_if_needed(bytes: &[u8], limit: usize) -> Result<Vec<u8>, ConnectorError> {
    use std::io::Read;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ConnectorError::new(
                Fault::Protocol,
                format!("result chunk: {e}"),
                "retry the job",
            )
        })?;
    if out.len() > limit {
        return Err(crate::egress::http::too_large(limit));
    }
    Ok(out)
}

fn decode_arrow(base64_text: &str) -> Result<Vec<Vec<Value>>, ConnectorError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_text)
        .map_err(|e| {
            ConnectorError::new(Fault::Protocol, format!("rowset: {e}"), "retry the job")
        })?;
    results::arrow_rows(&bytes)
        .map_err(|e| ConnectorError::new(Fault::Protocol, format!("rowset: {e}"), "retry the job"))
}

async fn read_json(
    client: &GuardedClient,
    response: reqwest::Response,
    during: &str,
) -> Result<Value, ConnectorError> {
    let status = response.status().as_u16();
    let text = client.read_text(response).await?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v.get("success").is_some() => Ok(v),
        _ => Err(ConnectorError::new(
            if status == 401 || status == 403 {
                Fault::Authentication
            } else {
                Fault::Protocol
            },
            format!("{during} answered http {status}: {}", short(text.trim())),
            "check the account and endpoint",
        )),
    }
}

pub async fn connect(cfg: &SnowflakeConfig, net: &Net) -> Result<SnowflakeSession, ConnectorError> {
    let client = net.http()?;
    let base = cfg.base();
    let mut data = json!({
        "CLIENT_APP_ID": "onramp",
        "CLIENT_APP_VERSION": env!("CARGO_PKG_VERSION"),
        "ACCOUNT_NAME": keypair::claim_account(&cfg.account_id()),
        "LOGIN_NAME": cfg.user,
        "CLIENT_ENVIRONMENT": {"APPLICATION": "onramp"},
        "SESSION_PARAMETERS": {"QUERY_TAG": "onramp discovery"},
    });
    match (&cfg.private_key, &cfg.password) {
        (Some(pem), _) => {
            let pem = pem.expose_secret().to_string();
            let passphrase = cfg
                .private_key_passphrase
                .as_ref()
                .map(|p| p.expose_secret().to_string());
            // Decrypting is CPU work: off the async threads.
            let read = tokio::task::spawn_blocking(move || {
                rsa_jwt::parse_key_with(&pem, passphrase.as_deref())
            });
            let key = match read.await {
                Ok(read) => read.map_err(|p| {
                    ConnectorError::new(
                        Fault::Authentication,
                        format!("privateKey {}", p.describe()),
                        "give the user's PEM private key, with privateKeyPassphrase when it is encrypted",
                    )
                })?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {
                    return Err(ConnectorError::new(
                        Fault::Protocol,
                        "reading privateKey was cancelled",
                        "try again",
                    ));
                }
            };
            data["AUTHENTICATOR"] = json!("SNOWFLAKE_JWT");
            data["TOKEN"] = json!(keypair::token(
                &key,
                &cfg.account_id(),
                &cfg.user,
                chrono::Utc::now().timestamp()
            ));
        }
        (None, Some(password)) => data["PASSWORD"] = json!(password.expose_secret()),
        (None, None) => unreachable!("validation requires one"),
    }
    let mut query: Vec<(&str, &str)> = vec![
        ("databaseName", &cfg.database),
        ("warehouse", &cfg.warehouse),
    ];
    if let Some(schema) = &cfg.schema {
        query.push(("schemaName", schema));
    }
    if let Some(role) = &cfg.role {
        query.push(("roleName", role));
    }
    let rid = request_id();
    query.push(("request_id", &rid));
    let request = client
        .request(
            reqwest::Method::POST,
            &format!("{base}/session/v1/login-request"),
        )?
        .query(&query)
        .header("accept", "application/json")
        .json(&json!({ "data": data }));
    let answer = read_json(&client, client.send(request).await?, "the login").await?;
    let Some(token) = answer["data"]["token"]
        .as_str()
        .filter(|_| answer["success"] == json!(true))
    else {
        return Err(failure(&answer, "the login"));
    };
    let mut session = SnowflakeSession {
        client,
        base,
        token: SecretString::from(token.to_string()),
        sequence: 0,
    };
    session.query("SELECT CURRENT_DATABASE()").await?;
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compression_bomb_fails_at_the_limit_instead_of_filling_memory() {
        use std::io::Write;
        // 256 MiB of zeros compress to a few hundred KiB.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 2 << 20);
        let e = gunzip_if_needed(&bomb, 4 << 20).unwrap_err();
        assert_eq!(e.fault, Fault::Limit);
        assert!(
            e.message.contains("target_response_max_bytes"),
            "{}",
            e.message
        );
        // Under the limit it inflates as before.
        let mut small = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        small.write_all(b"[1,2]").unwrap();
        assert_eq!(
            gunzip_if_needed(&small.finish().unwrap(), 1024).unwrap(),
            b"[1,2]"
        );
    }

    #[test]
    fn login_failures_map_by_their_documented_codes() {
        let refused = failure(
            &json!({"success": false, "code": "390100", "message": "Incorrect username or password was specified."}),
            "the login",
        );
        assert_eq!(refused.fault, Fault::Authentication);
        let missing = failure(
            &json!({"success": false, "code": "002003", "message": "SQL compilation error: Database 'X' does not exist or not authorized."}),
            "the query",
        );
        assert_eq!(missing.fault, Fault::UnknownDatabase);
    }
}
