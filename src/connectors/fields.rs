//! Credential field specifications: one table per type drives request validation,
//! the defaults shown in jobs, secret redaction and the JSON Schemas in `schemas/`.

use serde_json::{Map, Value, json};

pub use crate::domain::FieldProblem;

#[derive(Debug, Clone, Copy)]
pub enum FieldKind {
    /// A string of `min..=max` characters.
    Text {
        min: usize,
        max: usize,
    },
    /// Up to `max` characters that may span lines (a PEM key, a JSON key file);
    /// tabs and line breaks are its only control characters.
    Document {
        max: usize,
    },
    /// A DNS name or IP literal, nothing a driver could read as more.
    Host,
    /// An absolute http(s) URL without user information.
    Url,
    /// A whole number in `min..=max`.
    Integer {
        min: i64,
        max: i64,
    },
    /// A TCP port, 1–65535.
    Port,
    Bool,
    /// One of a closed set of strings.
    OneOf(&'static [&'static str]),
    /// An object with fields of its own (`credentials.tunnel`), checked, defaulted,
    /// redacted and described like the credentials around it.
    Object(&'static [FieldSpec]),
    /// A list of up to `PATTERNS_MAX` name patterns (`*` any run of characters),
    /// each of 1 to `PATTERN_MAX_CHARS` characters without control characters.
    Patterns,
}

/// The most patterns one include or exclude list takes.
pub const PATTERNS_MAX: usize = 100;
/// The longest pattern accepted.
pub const PATTERN_MAX_CHARS: usize = 256;

#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// JSON text of the default filled in when the field is absent.
    pub default: Option<&'static str>,
    /// Secrets are encrypted at rest and never shown.
    pub secret: bool,
    pub description: &'static str,
}

/// The longest datasource name accepted.
/// The name rule is the domain's (`DatasourceName`); the field table states it too.
pub const NAME_MAX: usize = crate::domain::DatasourceName::MAX_CHARS;

/// Fields every type shares.
pub const NAME: FieldSpec = FieldSpec {
    name: "name",
    kind: FieldKind::Text {
        min: 1,
        max: NAME_MAX,
    },
    required: true,
    default: None,
    secret: false,
    description: "the datasource's name, unique within the organisation",
};

/// A text field of 1 to `max` characters, optional unless marked: built as
/// `text("region", 32, "...").required()`, `.secret()`, `.or(default)`, `.at_least(0)`.
pub const fn text(name: &'static str, max: usize, description: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind: FieldKind::Text { min: 1, max },
        required: false,
        default: None,
        secret: false,
        description,
    }
}

/// An optional true/false field with its default.
pub const fn flag(name: &'static str, default: bool, description: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind: FieldKind::Bool,
        required: false,
        default: Some(if default { "true" } else { "false" }),
        secret: false,
        description,
    }
}

/// An optional absolute http(s) URL, built like `text`: `url("endpoint", "...").or("\"https://...\"")`.
pub const fn url(name: &'static str, description: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind: FieldKind::Url,
        required: false,
        default: None,
        secret: false,
        description,
    }
}

impl FieldSpec {
    pub const fn required(mut self) -> FieldSpec {
        self.required = true;
        self
    }

    pub const fn secret(mut self) -> FieldSpec {
        self.secret = true;
        self
    }

    /// JSON text of the default.
    pub const fn or(mut self, default: &'static str) -> FieldSpec {
        self.default = Some(default);
        self
    }

    /// Lets a text field span lines: for PEM keys and key files.
    pub const fn multiline(mut self) -> FieldSpec {
        if let FieldKind::Text { max, .. } = self.kind {
            self.kind = FieldKind::Document { max };
        }
        self
    }

    pub const fn at_least(mut self, min: usize) -> FieldSpec {
        if let FieldKind::Text { max, .. } = self.kind {
            self.kind = FieldKind::Text { min, max };
        }
        self
    }
}

/// Fields shared by the database types: host, port (with the type's default), user,
/// password and database.
pub const HOST: FieldSpec = FieldSpec {
    name: "host",
    kind: FieldKind::Host,
    required: true,
    default: None,
    secret: false,
    description: "host name or IP address of the server",
};

pub const fn port(default: &'static str) -> FieldSpec {
    FieldSpec {
        name: "port",
        kind: FieldKind::Port,
        required: false,
        default: Some(default),
        secret: false,
        description: "TCP port",
    }
}

pub const USERNAME: FieldSpec = text("username", 128, "user to log in as").required();

pub const PASSWORD: FieldSpec = text("password", 1024, "password of that user")
    .at_least(0)
    .secret()
    .or("\"\"");

pub const fn database(max: usize, description: &'static str) -> FieldSpec {
    FieldSpec {
        name: "database",
        kind: FieldKind::Text { min: 1, max },
        required: true,
        default: None,
        secret: false,
        description,
    }
}

/// The names of the fields `validate` filled from defaults, with their values,
/// so that the job can show them (`port 26257, sslMode prefer`).
pub fn defaults_used(
    specs: &[FieldSpec],
    given: &Value,
    normalised: &Map<String, Value>,
) -> Vec<String> {
    specs
        .iter()
        .filter(|s| s.default.is_some() && !s.secret)
        .filter(|s| given.get(s.name).is_none_or(Value::is_null))
        .filter_map(|s| {
            normalised.get(s.name).map(|v| {
                format!(
                    "{} {}",
                    s.name,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
        })
        .collect()
}

/// Checks `credentials` against `specs`, naming every bad field, and returns the
/// object with defaults filled in.
pub fn validate(
    specs: &[FieldSpec],
    prefix: &str,
    credentials: &Value,
) -> Result<Map<String, Value>, Vec<FieldProblem>> {
    let Some(object) = credentials.as_object() else {
        return Err(vec![FieldProblem::new(prefix, "must be an object")]);
    };
    let mut problems = Vec::new();
    let mut out = Map::new();
    for key in object.keys() {
        if !specs.iter().any(|s| s.name == key) {
            problems.push(FieldProblem::new(
                format!("{prefix}.{key}"),
                "unknown field".to_string(),
            ));
        }
    }
    for spec in specs {
        let path = format!("{prefix}.{}", spec.name);
        match object.get(spec.name) {
            None | Some(Value::Null) => {
                if let Some(default) = spec.default {
                    out.insert(
                        spec.name.into(),
                        serde_json::from_str(default).expect("valid default"),
                    );
                } else if spec.required {
                    problems.push(FieldProblem::new(path, "is required"));
                }
            }
            Some(value) => match spec.kind {
                FieldKind::Object(nested) => match validate(nested, &path, value) {
                    Ok(v) => {
                        out.insert(spec.name.into(), Value::Object(v));
                    }
                    Err(more) => problems.extend(more),
                },
                kind => match check(kind, value) {
                    Ok(v) => {
                        out.insert(spec.name.into(), v);
                    }
                    Err(problem) => problems.push(FieldProblem::new(path, problem)),
                },
            },
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn check(kind: FieldKind, value: &Value) -> Result<Value, String> {
    match kind {
        FieldKind::Text { min, max } => {
            let s = value.as_str().ok_or("must be a string")?;
            let len = s.chars().count();
            if s.trim().is_empty() && min > 0 {
                return Err("must not be empty".into());
            }
            if len < min || len > max {
                return Err(format!("must be {min} to {max} characters long"));
            }
            if s.chars().any(char::is_control) {
                return Err("must not contain control characters".into());
            }
            Ok(value.clone())
        }
        FieldKind::Document { max } => {
            let s = value.as_str().ok_or("must be a string")?;
            if s.trim().is_empty() {
                return Err("must not be empty".into());
            }
            if s.chars().count() > max {
                return Err(format!("must be at most {max} characters long"));
            }
            if s.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                return Err(
                    "must not contain control characters other than line breaks and tabs".into(),
                );
            }
            Ok(value.clone())
        }
        FieldKind::Host => {
            let s = value.as_str().ok_or("must be a string")?;
            if s.is_empty() {
                return Err("must not be empty".into());
            }
            crate::egress::host::check(s)?;
            Ok(value.clone())
        }
        FieldKind::Url => {
            let s = value.as_str().ok_or("must be a string")?;
            let url = url::Url::parse(s).map_err(|_| "must be an absolute URL")?;
            if url.scheme() != "http" && url.scheme() != "https" {
                return Err("must be an http or https URL".into());
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err("must not carry a user name or password".into());
            }
            let host = url.host_str().ok_or("must name a host")?;
            crate::egress::host::check(host.trim_start_matches('[').trim_end_matches(']'))?;
            if url.query().is_some() || url.fragment().is_some() {
                return Err("must not have a query or fragment".into());
            }
            Ok(value.clone())
        }
        FieldKind::Integer { min, max } => {
            let n = value.as_i64().ok_or("must be a whole number")?;
            if n < min || n > max {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(json!(n))
        }
        FieldKind::Port => {
            // Ports arrive as numbers from most clients and as strings from some forms.
            let n = match value {
                Value::Number(n) => n.as_i64().ok_or("must be an integer")?,
                Value::String(s) => s.parse::<i64>().map_err(|_| "must be an integer")?,
                _ => return Err("must be an integer".into()),
            };
            if !(1..=65535).contains(&n) {
                return Err("must be between 1 and 65535".into());
            }
            Ok(json!(n))
        }
        // DataBrain's bodies give some switches as "enable" / "disable".
        FieldKind::Bool => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) if s == "enable" => Ok(Value::Bool(true)),
            Value::String(s) if s == "disable" => Ok(Value::Bool(false)),
            _ => Err("must be true or false (or \"enable\" or \"disable\")".into()),
        },
        FieldKind::OneOf(options) => {
            let s = value.as_str().ok_or("must be a string")?;
            if options.contains(&s) {
                Ok(value.clone())
            } else {
                Err(format!("must be one of: {}", options.join(", ")))
            }
        }
        FieldKind::Patterns => {
            let items = value.as_array().ok_or("must be a list of patterns")?;
            if items.len() > PATTERNS_MAX {
                return Err(format!("takes at most {PATTERNS_MAX} patterns"));
            }
            for (i, item) in items.iter().enumerate() {
                let s = item
                    .as_str()
                    .ok_or_else(|| format!("item {i} must be a string"))?;
                let n = s.chars().count();
                if n == 0 || n > PATTERN_MAX_CHARS {
                    return Err(format!(
                        "item {i} must be 1 to {PATTERN_MAX_CHARS} characters"
                    ));
                }
                if s.chars().any(char::is_control) {
                    return Err(format!("item {i} must not contain control characters"));
                }
            }
            Ok(value.clone())
        }
        FieldKind::Object(nested) => validate(nested, "", value).map(Value::Object).map_err(|p| {
            p.first()
                .map(|p| format!("{}: {}", p.field.trim_start_matches('.'), p.problem))
                .unwrap_or_default()
        }),
    }
}

/// The fields of `credentials` that pass their checks, with defaults for the rest:
/// enough to run a type's own cross-field checks while other fields are wrong, so
/// that one answer names every bad field.
pub fn lenient(specs: &[FieldSpec], credentials: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(object) = credentials.as_object() else {
        return out;
    };
    for spec in specs {
        let checked = object
            .get(spec.name)
            .filter(|v| !v.is_null())
            .and_then(|v| match spec.kind {
                FieldKind::Object(nested) => Some(Value::Object(lenient(nested, v))),
                kind => check(kind, v).ok(),
            });
        let value = checked.or_else(|| {
            spec.default
                .map(|d| serde_json::from_str(d).expect("valid default"))
        });
        if let Some(v) = value {
            out.insert(spec.name.into(), v);
        }
    }
    out
}

/// Removes secret fields, for records and answers that must never carry them.
pub fn redact(specs: &[FieldSpec], credentials: &Map<String, Value>) -> Map<String, Value> {
    credentials
        .iter()
        .filter_map(|(k, v)| {
            let spec = specs.iter().find(|s| s.name == k.as_str());
            match (spec, v) {
                (Some(s), _) if s.secret => None,
                (
                    Some(FieldSpec {
                        kind: FieldKind::Object(nested),
                        ..
                    }),
                    Value::Object(inner),
                ) => Some((k.clone(), Value::Object(redact(nested, inner)))),
                _ => Some((k.clone(), v.clone())),
            }
        })
        .collect()
}

/// The secret values of a credentials object, so logs and results can be scanned for them.
pub fn secret_values(specs: &[FieldSpec], credentials: &Map<String, Value>) -> Vec<String> {
    let mut found = Vec::new();
    for spec in specs {
        match (spec.kind, credentials.get(spec.name)) {
            (FieldKind::Object(nested), Some(Value::Object(inner))) => {
                found.extend(secret_values(nested, inner))
            }
            (_, Some(Value::String(s))) if spec.secret && !s.is_empty() => found.push(s.clone()),
            _ => {}
        }
    }
    found
}

/// The JSON Schema of one type's credentials object.
pub fn json_schema(specs: &[FieldSpec]) -> Value {
    let mut properties = Map::new();
    for spec in specs {
        let mut p = match spec.kind {
            FieldKind::Text { min, max } => {
                json!({"type": "string", "minLength": min, "maxLength": max})
            }
            FieldKind::Document { max } => {
                json!({"type": "string", "minLength": 1, "maxLength": max})
            }
            FieldKind::Host => json!({"type": "string", "minLength": 1, "maxLength": 253}),
            FieldKind::Url => json!({"type": "string", "format": "uri"}),
            FieldKind::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            FieldKind::Port => json!({"type": "integer", "minimum": 1, "maximum": 65535}),
            FieldKind::Bool => json!({"enum": [true, false, "enable", "disable"]}),
            FieldKind::OneOf(options) => json!({"type": "string", "enum": options}),
            FieldKind::Object(nested) => json_schema(nested),
            FieldKind::Patterns => json!({"type": "array", "maxItems": PATTERNS_MAX,
                "items": {"type": "string", "minLength": 1, "maxLength": PATTERN_MAX_CHARS,
                          "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"}}),
        };
        let p = p.as_object_mut().expect("object");
        // An optional field may be sent as null: it means the same as leaving it out.
        if !(spec.required && spec.default.is_none()) {
            if let Some(ty) = p.get("type").cloned() {
                p.insert("type".into(), json!([ty, "null"]));
            }
            if let Some(Value::Array(options)) = p.get_mut("enum") {
                options.push(Value::Null);
            }
        }
        p.insert("description".into(), json!(spec.description));
        if let Some(default) = spec.default {
            p.insert("default".into(), serde_json::from_str(default).unwrap());
        }
        if spec.secret {
            p.insert("writeOnly".into(), json!(true));
        }
        properties.insert(spec.name.into(), Value::Object(p.clone()));
    }
    let required: Vec<&str> = specs
        .iter()
        .filter(|s| s.required && s.default.is_none())
        .map(|s| s.name)
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[FieldSpec] = &[
        NAME,
        FieldSpec {
            name: "port",
            kind: FieldKind::Port,
            required: false,
            default: Some("5432"),
            secret: false,
            description: "",
        },
        FieldSpec {
            name: "password",
            kind: FieldKind::Text { min: 0, max: 10 },
            required: true,
            default: None,
            secret: true,
            description: "",
        },
    ];

    #[test]
    fn every_bad_field_is_named_and_defaults_are_filled() {
        let err = validate(SPECS, "credentials", &json!({"port": 0, "extra": 1})).unwrap_err();
        let fields: Vec<_> = err.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "credentials.extra",
                "credentials.name",
                "credentials.port",
                "credentials.password"
            ]
        );
        let ok = validate(SPECS, "credentials", &json!({"name": "a", "password": "p"})).unwrap();
        assert_eq!(ok["port"], json!(5432));
        assert!(!redact(SPECS, &ok).contains_key("password"));
        assert_eq!(secret_values(SPECS, &ok), ["p"]);
    }

    #[test]
    fn a_port_given_as_a_string_is_accepted_and_normalised() {
        let ok = validate(
            SPECS,
            "c",
            &json!({"name": "a", "password": "", "port": "3306"}),
        );
        assert_eq!(ok.unwrap()["port"], json!(3306));
        let err = validate(
            SPECS,
            "c",
            &json!({"name": "a", "password": "", "port": 70000}),
        );
        assert_eq!(err.unwrap_err()[0].problem, "must be between 1 and 65535");
    }
}
