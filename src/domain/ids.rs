//! The identifiers of the vocabulary, each its own type so that a job's id can never
//! be passed where a datasource's is expected, and names parsed once, at the edge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::FieldProblem;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id, ordered by time (UUID v7) like the rows it names.
            pub fn generate() -> $name {
                $name(Uuid::now_v7())
            }

            pub fn nil() -> $name {
                $name(Uuid::nil())
            }

            pub fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<$name, uuid::Error> {
                Uuid::parse_str(text).map($name)
            }
        }
    };
}

id!(
    /// An organisation: the tenant every token, datasource and job belongs to.
    OrgId
);
id!(
    /// A datasource, the same across its updates and syncs.
    DatasourceId
);
id!(
    /// One job: a create, update or sync of a datasource.
    JobId
);
id!(
    /// A webhook: an organisation's URL that receives its events.
    WebhookId
);
id!(
    /// One event's delivery to one webhook, with all its attempts.
    DeliveryId
);

/// A datasource's name as create accepts it: 1 to 128 characters, none of them a
/// control character. Names are unique within an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(transparent)]
#[sqlx(transparent)]
#[schema(value_type = String)]
pub struct DatasourceName(String);

impl DatasourceName {
    pub const MAX_CHARS: usize = 128;

    /// The name, or what is wrong with it (in the words of a 400's `details`).
    pub fn parse(text: &str) -> Result<DatasourceName, FieldProblem> {
        if text.is_empty() {
            return Err(FieldProblem::new("name", "must not be empty"));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(FieldProblem::new(
                "name",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(FieldProblem::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(DatasourceName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatasourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_print_as_their_uuid_and_serialise_as_text() {
        let id = JobId::generate();
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            serde_json::Value::String(id.as_uuid().to_string())
        );
        assert!("not-a-uuid".parse::<OrgId>().is_err());
    }

    #[test]
    fn a_name_is_one_to_128_characters_without_control_characters() {
        assert!(DatasourceName::parse("prod (eu) — ünicode").is_ok());
        assert!(DatasourceName::parse(&"é".repeat(128)).is_ok());
        for bad in ["", "a\nb", "nul\u{0}", "\u{85}"] {
            assert!(DatasourceName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DatasourceName::parse(&"a".repeat(129)).is_err());
    }
}
