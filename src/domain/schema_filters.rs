//! Schema filters (`credentials.schemaFilters`, whose field table is the
//! connectors'): which databases, schemas and tables discovery reads.
//! Each level takes `include` and `exclude` lists of patterns in which `*` stands for
//! any run of characters and every other character for itself. A name is kept when
//! the include list is empty or one of its patterns matches, and no exclude pattern
//! does: exclude wins. Connectors push the patterns into their catalog queries (SQL
//! `LIKE`, an API's own wildcard, a filter document) so that what is filtered out is
//! never read; [`NameFilter::keeps`] is the same rule in memory, for what a catalog
//! cannot filter and for the tests that hold the two to each other.
//!
//! The filters are not secret: they are kept with the datasource's public settings
//! and recorded in the snapshot they shaped.

use serde::{Deserialize, Serialize};

/// One level's include and exclude patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// The filters of one datasource; a level the type does not have is never sent
/// (the field table refuses it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFilters {
    #[serde(default, skip_serializing_if = "NameFilter::is_empty")]
    pub databases: NameFilter,
    #[serde(default, skip_serializing_if = "NameFilter::is_empty")]
    pub schemas: NameFilter,
    #[serde(default, skip_serializing_if = "NameFilter::is_empty")]
    pub tables: NameFilter,
}

/// Whether a type's names differ by case alone (PostgreSQL's `"Sales"` and
/// `sales`), or the database folds or compares them without case (Snowflake, SQL
/// Server's default collation, MySQL's schema names on most installs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Sensitive,
    Insensitive,
}

impl NameFilter {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// The filter's rule, in memory.
    pub fn keeps(&self, name: &str, case: Case) -> bool {
        let any = |patterns: &[String]| patterns.iter().any(|p| matches(p, name, case));
        (self.include.is_empty() || any(&self.include)) && !any(&self.exclude)
    }

    /// The include and exclude lists as SQL `LIKE` patterns with `\` as the escape
    /// character: `*` becomes `%`, and a literal `%`, `_` or `\` is escaped.
    pub fn like(&self) -> (Vec<String>, Vec<String>) {
        let all = |ps: &[String]| ps.iter().map(|p| like_pattern(p, '\\')).collect();
        (all(&self.include), all(&self.exclude))
    }
}

impl SchemaFilters {
    pub fn is_empty(&self) -> bool {
        self.databases.is_empty() && self.schemas.is_empty() && self.tables.is_empty()
    }

    /// Whether a relation is kept, in memory: its schema and its own name.
    pub fn keeps(&self, schema: &str, table: &str, case: Case) -> bool {
        self.schemas.keeps(schema, case) && self.tables.keeps(table, case)
    }
}

/// How a SQL dialect spells a filter: its bind placeholders, and how it compares
/// names for the type's case rule.
pub struct SqlDialect {
    /// The placeholder of the `n`th bind parameter (1-based): `$n`, `?`, `@Pn`.
    pub placeholder: fn(usize) -> String,
    pub case: Case,
}

impl SqlDialect {
    /// A condition on `column` for `filter`, its patterns appended to `binds` as
    /// bind parameters (never spliced into the text); `TRUE`-like `1 = 1` when the
    /// filter is empty. `LIKE … ESCAPE '!'`, with both sides lowered when names
    /// compare without case.
    pub fn condition(&self, filter: &NameFilter, column: &str, binds: &mut Vec<String>) -> String {
        condition_with(filter, |pattern| {
            binds.push(like_pattern(pattern, '!'));
            let p = (self.placeholder)(binds.len());
            match self.case {
                Case::Sensitive => format!("{column} LIKE {p} ESCAPE '!'"),
                Case::Insensitive => format!("LOWER({column}) LIKE LOWER({p}) ESCAPE '!'"),
            }
        })
    }
}

/// `filter` as a SQL condition, `test(pattern)` writing one pattern's test (for
/// SQL sent as text, with the literal quoted by the caller's dialect): any include
/// pattern, and none of the exclude ones; `1 = 1` when the filter is empty.
pub fn condition_with(filter: &NameFilter, mut test: impl FnMut(&str) -> String) -> String {
    let mut parts = Vec::new();
    if !filter.include.is_empty() {
        let any: Vec<String> = filter.include.iter().map(|p| test(p)).collect();
        parts.push(format!("({})", any.join(" OR ")));
    }
    for p in &filter.exclude {
        parts.push(format!("NOT ({})", test(p)));
    }
    if parts.is_empty() {
        "1 = 1".to_string()
    } else {
        parts.join(" AND ")
    }
}

/// `filter` as a condition for a `LIKE` that takes no `ESCAPE` clause (Firebolt
/// documents none): an include pattern is widened (a literal `_` or `%` becomes
/// the wildcard it is spelled as, a `\` the any-character `_`), so the query
/// keeps at least what the filter keeps; an exclude pattern is pushed only when
/// `LIKE` reads it exactly (no `_`, `%` or `\`). What the query lets through
/// beyond the filter is dropped in memory by [`SchemaFilters::keeps`].
pub fn widened_condition_with(filter: &NameFilter, mut test: impl FnMut(&str) -> String) -> String {
    let widen = |p: &str| -> String {
        p.chars()
            .map(|c| match c {
                '*' => '%',
                '\\' => '_',
                c => c,
            })
            .collect()
    };
    let exact = |p: &&String| !p.contains(['_', '%', '\\']);
    let pushed = NameFilter {
        include: filter.include.iter().map(|p| widen(p)).collect(),
        exclude: filter
            .exclude
            .iter()
            .filter(exact)
            .map(|p| widen(p))
            .collect(),
    };
    // The widened patterns are LIKE patterns already: `test` receives them as is.
    let mut parts = Vec::new();
    if !pushed.include.is_empty() {
        let any: Vec<String> = pushed.include.iter().map(|p| test(p)).collect();
        parts.push(format!("({})", any.join(" OR ")));
    }
    for p in &pushed.exclude {
        parts.push(format!("NOT ({})", test(p)));
    }
    if parts.is_empty() {
        "1 = 1".to_string()
    } else {
        parts.join(" AND ")
    }
}

/// `pattern` as a SQL `LIKE` pattern escaped with `escape`.
pub fn like_pattern(pattern: &str, escape: char) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' => {
                out.push(escape);
                out.push(c);
            }
            c if c == escape => {
                out.push(escape);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `name` matches `pattern` (`*` any run, including none). Greedy with
/// one backtrack point, so linear in practice and never exponential.
pub fn matches(pattern: &str, name: &str, case: Case) -> bool {
    let fold = |s: &str| -> Vec<char> {
        match case {
            Case::Sensitive => s.chars().collect(),
            Case::Insensitive => s.chars().flat_map(char::to_lowercase).collect(),
        }
    };
    let (p, n) = (fold(pattern), fold(name));
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> NameFilter {
        NameFilter {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn stars_match_any_run_and_nothing_else_is_special() {
        let s = Case::Sensitive;
        assert!(matches("sales_*", "sales_2024", s));
        assert!(matches("*", "", s));
        assert!(matches("a*b*c", "aXbYbZc", s));
        assert!(!matches("a*b*c", "aXbYbZ", s));
        assert!(matches("t_00?", "t_00?", s), "? is literal");
        assert!(!matches("t_00?", "t_001", s));
        assert!(matches("t%", "t%", s) && !matches("t%", "tx", s));
        assert!(!matches("Sales", "sales", s));
        assert!(matches("Sales*", "sALES_x", Case::Insensitive));
        // Many stars against a long name stay fast (one backtrack point).
        let mut many = "*a".repeat(50);
        many.push('b');
        assert!(!matches(&many, &"a".repeat(10_000), s));
    }

    #[test]
    fn exclude_wins_and_an_empty_include_keeps_everything() {
        let f = filter(&["sales*", "hr"], &["*_tmp"]);
        let s = Case::Sensitive;
        assert!(f.keeps("sales_eu", s));
        assert!(f.keeps("hr", s));
        assert!(!f.keeps("sales_tmp", s));
        assert!(!f.keeps("finance", s));
        let only_exclude = filter(&[], &["audit"]);
        assert!(only_exclude.keeps("anything", s) && !only_exclude.keeps("audit", s));
        assert!(NameFilter::default().keeps("x", s));
    }

    #[test]
    fn like_patterns_escape_what_like_would_read_as_wildcards() {
        assert_eq!(like_pattern("t_*", '\\'), "t\\_%");
        assert_eq!(like_pattern("100%*", '\\'), "100\\%%");
        assert_eq!(like_pattern("a\\b", '\\'), "a\\\\b");
        assert_eq!(
            filter(&["a*"], &["b_c"]).like(),
            (vec!["a%".to_string()], vec!["b\\_c".to_string()])
        );
    }

    #[test]
    fn sql_conditions_bind_every_pattern_and_lower_both_sides_without_case() {
        let dialect = SqlDialect {
            placeholder: |n| format!("${n}"),
            case: Case::Sensitive,
        };
        let mut binds = vec!["earlier".to_string()];
        let sql = dialect.condition(&filter(&["a*", "b"], &["a_x"]), "t.name", &mut binds);
        assert_eq!(
            sql,
            "(t.name LIKE $2 ESCAPE '!' OR t.name LIKE $3 ESCAPE '!') AND NOT (t.name LIKE $4 ESCAPE '!')"
        );
        assert_eq!(binds, ["earlier", "a%", "b", "a!_x"]);
        let mysql = SqlDialect {
            placeholder: |_| "?".into(),
            case: Case::Insensitive,
        };
        let mut binds = Vec::new();
        assert_eq!(
            mysql.condition(&filter(&[], &["T*"]), "TABLE_NAME", &mut binds),
            "NOT (LOWER(TABLE_NAME) LIKE LOWER(?) ESCAPE '!')"
        );
        assert_eq!(
            mysql.condition(&NameFilter::default(), "x", &mut binds),
            "1 = 1"
        );
        assert_eq!(binds, ["T%"]);
    }

    #[test]
    fn without_an_escape_clause_includes_widen_and_inexact_excludes_stay_in_memory() {
        let f = filter(&["t_1*", "a\\b"], &["tmp*", "x_y"]);
        let sql = widened_condition_with(&f, |p| format!("n LIKE '{p}'"));
        assert_eq!(
            sql,
            "(n LIKE 't_1%' OR n LIKE 'a_b') AND NOT (n LIKE 'tmp%')"
        );
        assert_eq!(
            widened_condition_with(&NameFilter::default(), |p| p.to_string()),
            "1 = 1"
        );
    }

    #[test]
    fn the_record_leaves_out_empty_levels() {
        let f = SchemaFilters {
            tables: filter(&["t_1*"], &[]),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::json!({"tables": {"include": ["t_1*"]}})
        );
        let back: SchemaFilters =
            serde_json::from_value(serde_json::json!({"tables": {"include": ["t_1*"]}})).unwrap();
        assert_eq!(back, f);
    }
}
