//! The closed list of datasource types. Adding one: a line here and a line in
//! `connectors::registry::connector` (the compiler asks for the second).

use serde::{Deserialize, Serialize};

macro_rules! datasource_types {
    ($($variant:ident => $name:literal,)*) => {
        /// Every datasource type onramp knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum DatasourceType {
            $($variant,)*
        }

        impl DatasourceType {
            pub const ALL: &'static [DatasourceType] = &[$(DatasourceType::$variant,)*];

            /// The type's name in requests, events and the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(DatasourceType::$variant => $name,)*
                }
            }
        }
    };
}

datasource_types! {
    Postgres => "postgres",
    Mysql => "mysql",
    Redshift => "redshift",
    Cockroachdb => "cockroachdb",
    Singlestore => "singlestore",
    Clickhouse => "clickhouse",
    Awss3 => "awss3",
    Athena => "athena",
    Csv => "csv",
    Elasticsearch => "elasticsearch",
    Opensearch => "opensearch",
    Databricks => "databricks",
    Trino => "trino",
    Firebolt => "firebolt",
    Snowflake => "snowflake",
    Bigquery => "bigquery",
    Mongodb => "mongodb",
    Mssql => "mssql",
}

impl DatasourceType {
    pub fn parse(s: &str) -> Option<DatasourceType> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    pub fn known_list() -> String {
        Self::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for DatasourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde_and_parse_back() {
        for ty in DatasourceType::ALL {
            let json = serde_json::to_value(ty).expect("serialises");
            assert_eq!(json, serde_json::Value::String(ty.as_str().into()));
            assert_eq!(DatasourceType::parse(ty.as_str()), Some(*ty));
        }
        assert_eq!(DatasourceType::ALL.len(), 18);
    }
}
