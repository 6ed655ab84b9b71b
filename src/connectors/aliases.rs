//! Other names a type's fields go by: DataBrain's, where its documented bodies name
//! a field differently from onramp's table, so that those bodies are accepted as
//! sent. One list for every type; an alias is renamed to its field before the
//! field table checks the credentials, and the stored credentials carry only the
//! field's own name.

use serde_json::{Map, Value};

use super::FieldProblem;
use crate::domain::DatasourceType;

/// `(alias, field)` pairs of a type.
pub fn of(ty: DatasourceType) -> &'static [(&'static str, &'static str)] {
    match ty {
        // DataBrain's PostgreSQL body says `ssl` ("enable" / "disable").
        DatasourceType::Postgres | DatasourceType::Cockroachdb => &[("ssl", "sslMode")],
        // DataBrain's Snowflake body says `username`.
        DatasourceType::Snowflake => &[("username", "user")],
        _ => &[],
    }
}

/// The credentials with every alias renamed to its field, and a problem for each
/// alias given beside its field: which one was meant is not for onramp to guess
/// (the alias is dropped, so the field table still names every other problem). A
/// null alias is absent, as a null is everywhere. A true/false given for an SSL
/// mode means `enable` / `disable`, as DataBrain's switch does.
pub fn resolve(ty: DatasourceType, credentials: &Value) -> (Value, Vec<FieldProblem>) {
    let aliases = of(ty);
    let Some(object) = credentials.as_object() else {
        return (credentials.clone(), Vec::new());
    };
    if !aliases.iter().any(|(alias, _)| object.contains_key(*alias)) {
        return (credentials.clone(), Vec::new());
    }
    let mut out: Map<String, Value> = object.clone();
    let mut problems = Vec::new();
    for (alias, field) in aliases {
        let Some(value) = out.remove(*alias).filter(|v| !v.is_null()) else {
            continue;
        };
        if out.get(*field).is_some_and(|v| !v.is_null()) {
            problems.push(FieldProblem::new(
                format!("credentials.{alias}"),
                format!("is another name for {field}: give one of them"),
            ));
            continue;
        }
        let value = match (value, *field) {
            (Value::Bool(on), "sslMode") => Value::from(if on { "enable" } else { "disable" }),
            (v, _) => v,
        };
        out.insert(field.to_string(), value);
    }
    (Value::Object(out), problems)
}

/// The request schema's credentials object with each alias described beside its
/// field: the same schema (a switch for an SSL mode also takes true/false), and
/// either name where the field is required, never both.
pub fn describe(ty: DatasourceType, credentials_schema: &mut Value) {
    for (alias, field) in of(ty) {
        let Some(mut spec) = credentials_schema["properties"].get(*field).cloned() else {
            continue;
        };
        spec["description"] = Value::from(format!(
            "another name for {field} (DataBrain's); give one of them"
        ));
        if let Some(o) = spec.as_object_mut() {
            o.remove("default");
        }
        if *field == "sslMode"
            && let Some(options) = spec["enum"].as_array_mut()
        {
            options.extend([Value::Bool(true), Value::Bool(false)]);
            if let Some(o) = spec.as_object_mut() {
                o.remove("type");
            }
        }
        credentials_schema["properties"][*alias] = spec;
        // Both given (neither null) is refused, as `resolve` refuses it.
        let given = serde_json::json!({"not": {"type": "null"}});
        let both = serde_json::json!({"not": {"required": [field, alias],
            "properties": {*field: given, *alias: given}}});
        let required = credentials_schema["required"].as_array_mut();
        let was_required = required.is_some_and(|r| {
            let before = r.len();
            r.retain(|f| f != *field);
            r.len() != before
        });
        let mut all = vec![both];
        if was_required {
            all.push(serde_json::json!({"anyOf": [{"required": [field]}, {"required": [alias]}]}));
        }
        match credentials_schema["allOf"].as_array_mut() {
            Some(existing) => existing.extend(all),
            None => credentials_schema["allOf"] = Value::Array(all),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::Registered;
    use serde_json::json;

    #[test]
    fn an_alias_becomes_its_field_and_both_names_are_refused() {
        let given = json!({"name": "a", "ssl": "enable"});
        assert_eq!(
            resolve(DatasourceType::Postgres, &given),
            (json!({"name": "a", "sslMode": "enable"}), vec![])
        );
        let switch = json!({"ssl": false});
        assert_eq!(
            resolve(DatasourceType::Postgres, &switch).0,
            json!({"sslMode": "disable"})
        );
        let both = json!({"username": "u", "user": "v"});
        let (kept, problems) = resolve(DatasourceType::Snowflake, &both);
        assert_eq!(problems[0].field, "credentials.username");
        assert_eq!(kept, json!({"user": "v"}));
        // A null is absent, on either side.
        let null_alias = json!({"ssl": null, "sslMode": "require"});
        assert_eq!(
            resolve(DatasourceType::Postgres, &null_alias),
            (json!({"sslMode": "require"}), vec![])
        );
        let null_field = json!({"ssl": "require", "sslMode": null});
        assert_eq!(
            resolve(DatasourceType::Postgres, &null_field),
            (json!({"sslMode": "require"}), vec![])
        );
        // A type without aliases sees its credentials unchanged.
        let mysql = json!({"ssl": true});
        assert_eq!(resolve(DatasourceType::Mysql, &mysql), (mysql, vec![]));
    }

    #[test]
    fn the_schema_takes_either_name_of_a_required_field() {
        let mut schema = crate::connectors::fields::json_schema(DatasourceType::Snowflake.fields());
        describe(DatasourceType::Snowflake, &mut schema);
        assert!(schema["properties"]["username"].is_object());
        assert!(
            !schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!("user"))
        );
        assert_eq!(
            schema["allOf"][1],
            json!({"anyOf": [{"required": ["user"]}, {"required": ["username"]}]})
        );
    }
}
