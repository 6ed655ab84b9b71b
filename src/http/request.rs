//! Parsing a create or update body: every problem is named, nothing is half-accepted.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::connectors::fields::FieldKind;
use crate::connectors::{DatasourceType, FieldProblem, FieldSpec, Registered};
use crate::domain::tenancy;
use crate::domain::{DatasourceName, ErrorCode};
use crate::egress::EgressPolicy;
use crate::egress::tls::SslMode;

/// A query string parsed into `T`, or the contract's JSON error naming the problem
/// (axum's own rejection is plain text, which no client of this API expects).
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(q)) => Ok(ApiQuery(q)),
            Err(e) => Err(ApiError::invalid(
                format!("malformed query string: {}", e.body_text()),
                vec![],
            )),
        }
    }
}

/// A path parameter as text, or the contract's JSON error.
pub struct ApiPath(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(p)) => Ok(ApiPath(p)),
            Err(e) => Err(ApiError::invalid(
                format!("malformed path: {}", e.body_text()),
                vec![],
            )),
        }
    }
}

/// A request that passed every check of shape.
pub struct DatasourceRequest {
    pub datasource_type: DatasourceType,
    pub name: DatasourceName,
    pub credentials: Map<String, Value>,
    /// The credentials without their secret fields, as the API shows them.
    pub public_credentials: Map<String, Value>,
    pub tenancy: Option<Value>,
    /// Fields left out and filled from defaults, as `name value`.
    pub defaults_used: Vec<String>,
    /// The canonical body, for idempotency.
    pub canonical: Vec<u8>,
    /// How much TLS the credentials ask for, where the type lets them choose.
    pub ssl_mode: Option<SslMode>,
}

/// The body as bytes, or the contract's answer for a body over `limit` bytes.
pub fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::invalid(format!("the request body could not be read: {e}"), vec![])
        }
    })?;
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(body)
}

pub fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        "the request body is over the size limit",
    )
    .with_hint(
        "credentials and settings fit in a few kilobytes; files are limited by upload_limit_bytes",
    )
}

pub fn parse_json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("malformed json: {e}"), vec![]))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid(
            "the request body must be a json object",
            vec![],
        )),
    }
}

pub fn parse_datasource(
    bytes: &[u8],
    policy: &EgressPolicy,
) -> Result<DatasourceRequest, ApiError> {
    let body = parse_json_object(bytes)?;
    let mut problems = Vec::new();
    for key in body.keys() {
        if !["datasourceType", "credentials", "tenancySettings"].contains(&key.as_str()) {
            problems.push(FieldProblem::new(key.clone(), "unknown field"));
        }
    }
    let ty = match body.get("datasourceType") {
        Some(Value::String(s)) => match DatasourceType::parse(s) {
            Some(t) => Some(t),
            None => {
                let err = ApiError::invalid(
                    format!(
                        "unknown datasourceType {s:?}; known types: {}",
                        DatasourceType::known_list()
                    ),
                    vec![FieldProblem::new(
                        "datasourceType",
                        format!("must be one of: {}", DatasourceType::known_list()),
                    )],
                );
                return Err(err);
            }
        },
        None | Some(Value::Null) => {
            problems.push(FieldProblem::new("datasourceType", "is required"));
            None
        }
        Some(_) => {
            problems.push(FieldProblem::new("datasourceType", "must be a string"));
            None
        }
    };
    let mut credentials = None;
    let mut ssl_mode = None;
    match (body.get("credentials"), ty) {
        (None | Some(Value::Null), _) => {
            problems.push(FieldProblem::new("credentials", "is required"))
        }
        (Some(c), Some(ty)) => match ty.configure(c) {
            Ok((normalised, config)) => {
                ssl_mode = config.ssl_mode();
                credentials = Some(normalised);
            }
            Err(p) => problems.extend(p),
        },
        (Some(c), None) if !c.is_object() => {
            problems.push(FieldProblem::new("credentials", "must be an object"))
        }
        _ => {}
    }
    let tenancy = match (body.get("tenancySettings"), ty) {
        (None | Some(Value::Null), _) => None,
        (Some(t), Some(ty)) => match tenancy::parse(t, ty.tenancy_levels()) {
            Ok(settings) => Some(serde_json::to_value(settings).expect("tenancy serialises")),
            Err(p) => {
                problems.extend(p);
                None
            }
        },
        (Some(_), None) => None,
    };
    // A literal address the policy refuses is refused here, before anything is recorded:
    // in every field the type's table calls a host. Through a tunnel, only the
    // bastion's: the target's address is reached from the bastion, in the
    // customer's network, and is no business of onramp's policy.
    let hosts = match (ty, credentials.as_ref()) {
        (Some(ty), Some(c)) => host_fields(ty.fields(), c),
        _ => Vec::new(),
    };
    for (field, host) in hosts {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<std::net::IpAddr>()
            && let Err(refusal) = policy.check(ip)
        {
            problems.push(FieldProblem::new(
                format!("credentials.{field}"),
                format!(
                    "is {} and is refused by the egress policy ({})",
                    refusal.class(),
                    refusal.hint()
                ),
            ));
        }
    }
    if !problems.is_empty() {
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        return Err(ApiError::invalid(
            format!("invalid request: check {}", fields.join(", ")),
            problems,
        ));
    }
    let (Some(datasource_type), Some(credentials)) = (ty, credentials) else {
        unreachable!("no problems means type and credentials are present");
    };
    // The field table held the name to the rules already; parsed into its type here.
    let name =
        DatasourceName::parse(credentials["name"].as_str().unwrap_or_default()).map_err(|p| {
            ApiError::invalid(
                "invalid request: check credentials.name",
                vec![FieldProblem::new("credentials.name", p.problem)],
            )
        })?;
    // What was given, with DataBrain's names for fields read as the fields'.
    let given = crate::connectors::aliases::resolve(datasource_type, &body["credentials"]).0;
    let defaults_used =
        crate::connectors::fields::defaults_used(datasource_type.fields(), &given, &credentials);
    let public_credentials =
        crate::connectors::fields::redact(datasource_type.fields(), &credentials);
    Ok(DatasourceRequest {
        datasource_type,
        name,
        public_credentials,
        credentials,
        tenancy,
        defaults_used,
        canonical: serde_json::to_vec(&body).expect("json serialises"),
        ssl_mode,
    })
}

impl DatasourceRequest {
    /// Refuses credentials that ask for less TLS than the deployment's minimum
    /// (`minimum_ssl_mode`), for the types that let them choose.
    pub fn meets(self, minimum: SslMode) -> Result<DatasourceRequest, ApiError> {
        match self.ssl_mode {
            Some(mode) if mode < minimum => {
                let field = if self.datasource_type == DatasourceType::Redshift {
                    "credentials.ssl"
                } else {
                    "credentials.sslMode"
                };
                Err(ApiError::invalid(
                    format!("invalid request: check {field}"),
                    vec![FieldProblem::new(
                        field,
                        format!(
                            "asks for {}, weaker than this deployment allows: use {} or stronger",
                            mode.as_str(),
                            minimum.as_str()
                        ),
                    )],
                ))
            }
            _ => Ok(self),
        }
    }
}

impl DatasourceRequest {
    /// A role is assumed only with this organisation's External ID (see `aws.rs`),
    /// and never in an account the operator denies (onramp's own).
    pub fn aws_role_allowed(
        self,
        external_id: &str,
        denied_accounts: &str,
    ) -> Result<DatasourceRequest, ApiError> {
        let Some(arn) = self.credentials.get("roleArn").and_then(Value::as_str) else {
            return Ok(self);
        };
        let mut problems = Vec::new();
        if self.credentials.get("externalId").and_then(Value::as_str) != Some(external_id) {
            problems.push(FieldProblem::new(
                "credentials.externalId",
                format!(
                    "must be this organisation's External ID, {external_id} (GET /api/v2/aws/external-id), and the role's trust policy must require it"
                ),
            ));
        }
        let account = arn.split(':').nth(4).unwrap_or("");
        if denied_accounts
            .split(',')
            .map(str::trim)
            .any(|a| !a.is_empty() && a == account)
        {
            problems.push(FieldProblem::new(
                "credentials.roleArn",
                "is in an account whose roles onramp does not assume",
            ));
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(ApiError::invalid(
                "invalid request: check the role",
                problems,
            ))
        }
    }
}

/// The host fields of validated credentials, as (path below `credentials`, value):
/// the tunnel's when there is one, the type's own otherwise.
fn host_fields(specs: &[FieldSpec], credentials: &Map<String, Value>) -> Vec<(String, String)> {
    // Only the tunnel holds hosts of its own (schemaFilters is an object too).
    let nested = specs.iter().filter(|f| f.name == "tunnel").find_map(|f| {
        match (f.kind, credentials.get(f.name)) {
            (FieldKind::Object(inner), Some(Value::Object(c))) => Some((f.name, inner, c)),
            _ => None,
        }
    });
    if let Some((name, inner, c)) = nested {
        return host_fields(inner, c)
            .into_iter()
            .map(|(field, host)| (format!("{name}.{field}"), host))
            .collect();
    }
    specs
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::Host))
        .filter_map(|f| {
            let host = credentials.get(f.name)?.as_str()?;
            Some((f.name.to_string(), host.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_type_lists_the_known_ones() {
        let e = parse_datasource(
            br#"{"datasourceType":"oracle","credentials":{}}"#,
            &EgressPolicy::default(),
        )
        .err()
        .unwrap();
        assert!(
            e.message.contains("postgres") && e.message.contains("mysql"),
            "{}",
            e.message
        );
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let body = br#"{"datasourceType":"postgres","credentials":{"name":"","port":99999,"host":7},"extra":1}"#;
        let e = parse_datasource(body, &EgressPolicy::default())
            .err()
            .unwrap();
        let fields: Vec<_> = e.details.iter().map(|d| d.field.as_str()).collect();
        for f in [
            "extra",
            "credentials.name",
            "credentials.port",
            "credentials.host",
            "credentials.username",
            "credentials.database",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }
}
