//! Hive's column type names (Glue, Athena, Databricks, Redshift Spectrum) onto type families.

/// Maps a Hive / Glue column type name onto a type family.
pub fn hive_family(native: &str) -> crate::domain::snapshot::TypeFamily {
    use crate::domain::snapshot::TypeFamily;
    let base = native
        .split(['(', '<'])
        .next()
        .unwrap_or(native)
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "tinyint" | "smallint" | "int" | "integer" | "bigint" => TypeFamily::Integer,
        "float" | "double" | "real" => TypeFamily::Float,
        "decimal" | "numeric" => TypeFamily::Decimal,
        "string" | "varchar" | "char" => TypeFamily::String,
        "boolean" => TypeFamily::Boolean,
        "date" => TypeFamily::Date,
        "timestamp" => TypeFamily::Timestamp,
        "binary" => TypeFamily::Binary,
        "array" => TypeFamily::Array,
        "struct" | "map" => TypeFamily::Json,
        _ => TypeFamily::Other,
    }
}
