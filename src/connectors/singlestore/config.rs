//! SingleStore's fields: MySQL's.

use crate::connectors::fields::FieldSpec;

/// MySQL's fields, with the same defaults.
pub const FIELDS: &[FieldSpec] = crate::connectors::mysql::config::FIELDS;
