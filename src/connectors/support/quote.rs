//! Quoting for the SQL onramp writes to targets, one module per dialect, so that
//! every identifier or literal that reaches a query text goes through one audited
//! function. Where a driver binds parameters (PostgreSQL, MySQL) nothing is quoted:
//! values travel apart from the text. Names a server sends back (BigQuery's
//! datasets) pass through here too, so a name is never trusted to be well formed.

/// SQL-standard doubling: `"` in identifiers, `'` in literals. No backslash
/// escapes exist in these dialects, so a backslash is an ordinary character.
pub mod standard {
    pub fn ident(name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    pub fn literal(value: &str) -> String {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// Trino: standard SQL.
pub mod trino {
    pub use super::standard::{ident, literal};
}

/// Firebolt: standard identifiers. Its documentation has described backslash
/// escapes in string literals at times, so a value with a backslash is written as
/// an escape string (`E'…'`) with both characters escaped: either way the literal
/// ends where onramp ends it.
pub mod firebolt {
    pub use super::standard::ident;

    pub fn literal(value: &str) -> String {
        if value.contains('\\') {
            format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
        } else {
            super::standard::literal(value)
        }
    }
}

/// Spark SQL (Databricks): backtick identifiers with the backtick doubled; string
/// literals take backslash escapes.
pub mod databricks {
    pub fn ident(name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }

    pub fn literal(value: &str) -> String {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// GoogleSQL (BigQuery): quoted identifiers and strings both take backslash escapes,
/// so the backslash is escaped first, then the quote.
pub mod bigquery {
    pub fn ident(name: &str) -> String {
        format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
    }

    pub fn literal(value: &str) -> String {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// ClickHouse: string literals take backslash escapes.
pub mod clickhouse {
    pub fn literal(value: &str) -> String {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Snowflake: string literals take backslash escapes.
pub mod snowflake {
    pub fn literal(value: &str) -> String {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// T-SQL (SQL Server): `N'…'` literals with `'` doubled; `[…]` identifiers with `]`
/// doubled. Backslashes are ordinary characters.
pub mod mssql {
    pub fn literal(value: &str) -> String {
        format!("N'{}'", value.replace('\'', "''"))
    }

    pub fn ident(name: &str) -> String {
        format!("[{}]", name.replace(']', "]]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names an attacker would choose: quotes of every dialect, backslashes before
    /// them, a newline, unicode.
    const HOSTILE: &[&str] = &[
        "plain",
        "it's",
        "a\"b",
        "a`b",
        "a]b",
        "ends with \\",
        "\\'; DROP TABLE x; --",
        "\\`) OR 1=1 --",
        "line\nbreak",
        "ünï©ødé ✓",
        "",
    ];

    /// Reads one quoted token the way a dialect's lexer does: where it ends, and
    /// what it means. The rest after the token must be empty.
    fn lex(
        text: &str,
        open: char,
        close: char,
        doubled: bool,
        backslash: bool,
    ) -> (String, String) {
        let mut chars = text.chars();
        assert_eq!(chars.next(), Some(open), "{text}");
        let mut value = String::new();
        let mut rest: String = String::new();
        let mut iter = chars.peekable();
        while let Some(c) = iter.next() {
            if backslash && c == '\\' {
                value.push(iter.next().expect("an escape has a character after it"));
            } else if c == close {
                if doubled && iter.peek() == Some(&close) {
                    iter.next();
                    value.push(close);
                } else {
                    rest = iter.collect();
                    break;
                }
            } else {
                value.push(c);
            }
        }
        (value, rest)
    }

    #[test]
    fn every_hostile_name_comes_back_whole_from_each_dialects_lexer() {
        for name in HOSTILE {
            let cases: Vec<(String, char, char, bool, bool)> = vec![
                (standard::ident(name), '"', '"', true, false),
                (standard::literal(name), '\'', '\'', true, false),
                (databricks::ident(name), '`', '`', true, false),
                (databricks::literal(name), '\'', '\'', false, true),
                (bigquery::ident(name), '`', '`', false, true),
                (bigquery::literal(name), '\'', '\'', false, true),
                (clickhouse::literal(name), '\'', '\'', false, true),
                (snowflake::literal(name), '\'', '\'', false, true),
                (mssql::ident(name), '[', ']', true, false),
            ];
            for (quoted, open, close, doubled, backslash) in cases {
                let (value, rest) = lex(&quoted, open, close, doubled, backslash);
                assert_eq!(&value, name, "{quoted}");
                assert_eq!(rest, "", "{quoted} ends early");
            }
            let n = mssql::literal(name);
            let (value, rest) = lex(&n[1..], '\'', '\'', true, false);
            assert_eq!((value.as_str(), rest.as_str()), (*name, ""), "{n}");
            let f = firebolt::literal(name);
            let (value, rest) = match f.strip_prefix('E') {
                Some(escaped) => lex(escaped, '\'', '\'', false, true),
                None => lex(&f, '\'', '\'', true, false),
            };
            assert_eq!((value.as_str(), rest.as_str()), (*name, ""), "{f}");
        }
    }
}
