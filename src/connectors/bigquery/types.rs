//! BigQuery's type text as INFORMATION_SCHEMA.COLUMNS shows it
//! (`ARRAY<STRUCT<sku STRING, qty INT64>>`), parsed so that nested STRUCT and
//! ARRAY columns flatten into dotted paths, each with its own type.

use crate::domain::snapshot::TypeFamily;

#[derive(Debug, Clone, PartialEq)]
pub enum BqType {
    /// A scalar, with its parameters as written: `NUMERIC(10, 2)`.
    Scalar(String),
    Array(Box<BqType>),
    Struct(Vec<(String, BqType, bool)>),
}

impl BqType {
    pub fn render(&self) -> String {
        match self {
            BqType::Scalar(s) => s.clone(),
            BqType::Array(inner) => format!("ARRAY<{}>", inner.render()),
            BqType::Struct(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(n, t, required)| {
                        format!(
                            "{n} {}{}",
                            t.render(),
                            if *required { " NOT NULL" } else { "" }
                        )
                    })
                    .collect();
                format!("STRUCT<{}>", parts.join(", "))
            }
        }
    }

    pub fn family(&self) -> TypeFamily {
        match self {
            BqType::Array(_) => TypeFamily::Array,
            BqType::Struct(_) => TypeFamily::Json,
            BqType::Scalar(s) => scalar_family(s),
        }
    }
}

fn scalar_family(text: &str) -> TypeFamily {
    let upper = text.to_ascii_uppercase();
    match upper.split('(').next().unwrap_or(&upper).trim() {
        "INT64" | "INT" | "INTEGER" | "SMALLINT" | "BIGINT" | "TINYINT" | "BYTEINT" => {
            TypeFamily::Integer
        }
        "FLOAT64" | "FLOAT" => TypeFamily::Float,
        "NUMERIC" | "BIGNUMERIC" | "DECIMAL" | "BIGDECIMAL" => TypeFamily::Decimal,
        "STRING" => TypeFamily::String,
        "BOOL" | "BOOLEAN" => TypeFamily::Boolean,
        "DATE" => TypeFamily::Date,
        "TIME" => TypeFamily::Time,
        "DATETIME" | "TIMESTAMP" => TypeFamily::Timestamp,
        "BYTES" => TypeFamily::Binary,
        "JSON" => TypeFamily::Json,
        _ => TypeFamily::Other,
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    /// ARRAY and STRUCT levels open: the text is the server's, and a parser that
    /// recursed as deep as it says would overflow the worker's stack.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn skip_space(&mut self) {
        while self.rest().starts_with(' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        // `get` rather than slicing: the cut may fall inside a character.
        if self
            .rest()
            .get(..token.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(token))
        {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// A field name, plain or in backquotes.
    fn name(&mut self) -> Option<String> {
        self.skip_space();
        let rest = self.rest();
        if let Some(quoted) = rest.strip_prefix('`') {
            let end = quoted.find('`')?;
            self.at += end + 2;
            return Some(quoted[..end].to_string());
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| {
            self.at += end;
            rest[..end].to_string()
        })
    }

    fn parse(&mut self) -> Option<BqType> {
        self.skip_space();
        if self.depth >= crate::connectors::MAX_NESTING {
            return None;
        }
        if self.eat("ARRAY<") {
            self.depth += 1;
            let inner = self.parse()?;
            self.depth -= 1;
            return self.eat(">").then(|| BqType::Array(Box::new(inner)));
        }
        if self.eat("STRUCT<") {
            let mut fields = Vec::new();
            loop {
                let name = self.name()?;
                self.depth += 1;
                let ty = self.parse()?;
                self.depth -= 1;
                let required = self.eat("NOT NULL");
                fields.push((name, ty, required));
                if self.eat(">") {
                    return Some(BqType::Struct(fields));
                }
                if !self.eat(",") {
                    return None;
                }
            }
        }
        // A scalar runs to the next separator outside parentheses.
        let start = self.at;
        let mut depth = 0;
        for (i, c) in self.rest().char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' | '>' if depth == 0 => {
                    self.at = start + i;
                    break;
                }
                _ => {}
            }
            self.at = start + i + c.len_utf8();
        }
        let taken = self.text.get(start..self.at).unwrap_or_default().trim();
        let scalar = taken.strip_suffix(" NOT NULL").unwrap_or(taken);
        if scalar.len() != taken.len() {
            // Leave "NOT NULL" for the struct field to read.
            let from = self.text.get(start..).unwrap_or_default();
            self.at = start + from.find(scalar).unwrap_or(0) + scalar.len();
        }
        (!scalar.is_empty()).then(|| BqType::Scalar(scalar.to_string()))
    }
}

pub fn parse(text: &str) -> Option<BqType> {
    let mut parser = Parser {
        text,
        at: 0,
        depth: 0,
    };
    let ty = parser.parse()?;
    parser.skip_space();
    (parser.at == text.len()).then_some(ty)
}

/// A column and, for STRUCTs (also inside ARRAYs), every nested field as
/// `column.field.subfield`: (path, type text, family, nullable).
pub fn flatten(
    column: &str,
    text: &str,
    nullable: bool,
) -> Vec<(String, String, TypeFamily, bool)> {
    let Some(ty) = parse(text) else {
        return vec![(
            column.to_string(),
            text.to_string(),
            scalar_family(text),
            nullable,
        )];
    };
    let mut out = Vec::new();
    walk(column, &ty, nullable, &mut out);
    out
}

fn walk(
    path: &str,
    ty: &BqType,
    nullable: bool,
    out: &mut Vec<(String, String, TypeFamily, bool)>,
) {
    out.push((path.to_string(), ty.render(), ty.family(), nullable));
    let fields = match ty {
        BqType::Struct(fields) => fields,
        BqType::Array(inner) => match inner.as_ref() {
            BqType::Struct(fields) => fields,
            _ => return,
        },
        BqType::Scalar(_) => return,
    };
    for (name, sub, required) in fields {
        walk(&format!("{path}.{name}"), sub, !required, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_type_text_neither_overflows_the_stack_nor_panics() {
        // 100,000 levels would overflow any stack with an unbounded recursion.
        let deep = format!("{}INT64{}", "ARRAY<".repeat(100_000), ">".repeat(100_000));
        let flat = flatten("c", &deep, true);
        assert_eq!(flat.len(), 1);
        assert_eq!(flat[0].2, TypeFamily::Other);
        let deep_struct = format!("{}INT64{}", "STRUCT<a ".repeat(50_000), ">".repeat(50_000));
        assert_eq!(flatten("c", &deep_struct, true).len(), 1);
        // Multi-byte characters where a token is expected, and cut-off text.
        for text in [
            "ARRA€",
            "STRUCT<é",
            "ARRAY<STRUCT<`x",
            "STRUCT<a INT64, b ARRAY<ü>>",
            "€€€",
            "",
        ] {
            let _ = flatten("c", text, true);
        }
        // Within the limit, nesting still flattens.
        let ok = format!("{}INT64{}", "ARRAY<".repeat(10), ">".repeat(10));
        assert_eq!(flatten("c", &ok, true)[0].2, TypeFamily::Array);
    }

    #[test]
    fn nested_structs_and_arrays_flatten_into_paths() {
        let paths = flatten(
            "buyer",
            "STRUCT<name STRING, tags ARRAY<STRING>, `zip code` NUMERIC(10, 2) NOT NULL>",
            true,
        );
        let got: Vec<(&str, &str, TypeFamily, bool)> = paths
            .iter()
            .map(|(p, t, f, n)| (p.as_str(), t.as_str(), *f, *n))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "buyer",
                    "STRUCT<name STRING, tags ARRAY<STRING>, zip code NUMERIC(10, 2) NOT NULL>",
                    TypeFamily::Json,
                    true
                ),
                ("buyer.name", "STRING", TypeFamily::String, true),
                ("buyer.tags", "ARRAY<STRING>", TypeFamily::Array, true),
                (
                    "buyer.zip code",
                    "NUMERIC(10, 2)",
                    TypeFamily::Decimal,
                    false
                ),
            ]
        );
        let lines = flatten("lines", "ARRAY<STRUCT<sku STRING, qty INT64>>", true);
        let names: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(names, ["lines", "lines.sku", "lines.qty"]);
        assert_eq!(lines[2].2, TypeFamily::Integer);
    }

    #[test]
    fn scalars_and_unparsable_text_stay_one_column() {
        assert_eq!(
            flatten("id", "INT64", false),
            vec![("id".into(), "INT64".into(), TypeFamily::Integer, false)]
        );
        assert_eq!(flatten("x", "STRUCT<", true).len(), 1);
        assert_eq!(parse("RANGE<DATE>"), None);
    }
}
