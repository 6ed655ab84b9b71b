//! The field table of `credentials.schemaFilters` (the filters themselves, and
//! their rule, are `domain::schema_filters`'). One table per set of levels a type
//! has; each type's description says how its patterns treat case.

pub use crate::domain::schema_filters::{
    Case, NameFilter, SchemaFilters, SqlDialect, condition_with, like_pattern, matches,
};

use super::fields::{FieldKind, FieldSpec};

const PATTERNS: &[FieldSpec] = &[
    FieldSpec {
        name: "include",
        kind: FieldKind::Patterns,
        required: false,
        default: None,
        secret: false,
        description: "names to read (`*` matches any run of characters); empty or absent reads all",
    },
    FieldSpec {
        name: "exclude",
        kind: FieldKind::Patterns,
        required: false,
        default: None,
        secret: false,
        description: "names never to read, even when an include pattern matches them",
    },
];

const fn level(name: &'static str, description: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        kind: FieldKind::Object(PATTERNS),
        required: false,
        default: None,
        secret: false,
        description,
    }
}

const DATABASES: FieldSpec = level("databases", "which databases (catalogs) to read");
const SCHEMAS: FieldSpec = level("schemas", "which schemas to read");
const TABLES: FieldSpec = level("tables", "which tables, views and collections to read");

const fn filters(levels: &'static [FieldSpec], description: &'static str) -> FieldSpec {
    FieldSpec {
        name: "schemaFilters",
        kind: FieldKind::Object(levels),
        required: false,
        default: None,
        secret: false,
        description,
    }
}

/// For types with schemas and tables whose names differ by case.
pub const SCHEMAS_AND_TABLES_BY_CASE: FieldSpec = filters(
    &[SCHEMAS, TABLES],
    "which schemas and tables discovery reads, applied in the catalog queries; patterns match case-sensitively",
);
/// For types with schemas and tables compared without case.
pub const SCHEMAS_AND_TABLES: FieldSpec = filters(
    &[SCHEMAS, TABLES],
    "which schemas and tables discovery reads, applied in the catalog queries; patterns match without regard to case",
);
/// For types with databases (catalogs) above their schemas, compared without case.
pub const DATABASES_SCHEMAS_AND_TABLES: FieldSpec = filters(
    &[DATABASES, SCHEMAS, TABLES],
    "which databases, schemas and tables discovery reads, applied in the catalog queries; patterns match without regard to case",
);
/// For types whose one level below the connection is tables (a MySQL database, an
/// index list).
pub const TABLES_ONLY: FieldSpec = filters(
    &[TABLES],
    "which tables discovery reads, applied in the catalog queries; patterns match without regard to case",
);
/// For types whose one level is tables, with names that differ by case.
pub const TABLES_ONLY_BY_CASE: FieldSpec = filters(
    &[TABLES],
    "which tables discovery reads, applied in the catalog queries; patterns match case-sensitively",
);
/// For types with databases and collections whose names differ by case.
pub const DATABASES_AND_TABLES_BY_CASE: FieldSpec = filters(
    &[DATABASES, TABLES],
    "which databases and collections discovery reads; patterns match case-sensitively",
);
