//! Which relations of the discovered schema the credentials may read (SELECT), from
//! the privilege views of information_schema: a global grant, a grant on the
//! schema (whose name may hold LIKE wildcards, as MySQL reads it), or one on the
//! table or any of its columns, to the account (or to PUBLIC, on MariaDB).
//!
//! MySQL lists in information_schema only the tables the account holds some
//! privilege on: a table it holds none on is invisible, and cannot be reported.
//! What is reported unreadable is a table it may see but not SELECT from (granted
//! INSERT only, say). A server whose privilege views cannot be read this way
//! (MySQL before 8, which has no CURRENT_ROLE), or a session with an active role,
//! claims nothing: every relation is reported readable.

use std::collections::HashSet;

use mysql_async::prelude::Queryable;

use super::discover::text_at;
use super::session::MySession;

/// The account as information_schema's GRANTEE spells it (`'user'@'host'`), and
/// MariaDB's PUBLIC, whose grants reach every account.
macro_rules! grantee {
    () => {
        "GRANTEE IN (CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), ''''), 'PUBLIC')"
    };
}

/// One row per SELECT grant that reaches the schema: `all` for a global or schema
/// grant, else the table's name. The schema is bound three times.
const SELECT_GRANTS: &str = concat!(
    "SELECT 'all', '' FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT' AND ",
    grantee!(),
    " UNION ALL SELECT 'all', '' FROM information_schema.SCHEMA_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT' AND ? LIKE TABLE_SCHEMA AND ",
    grantee!(),
    " UNION ALL SELECT 'table', TABLE_NAME FROM information_schema.TABLE_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = ? AND ",
    grantee!(),
    " UNION ALL SELECT 'table', TABLE_NAME FROM information_schema.COLUMN_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = ? AND ",
    grantee!(),
);

/// What the credentials may read of one schema.
pub enum Readable {
    /// Every relation (or the server would not say).
    All,
    /// These tables only (case-folded: MySQL's names compare without case here).
    Only(HashSet<String>),
}

impl Readable {
    pub fn allows(&self, table: &str) -> bool {
        match self {
            Readable::All => true,
            Readable::Only(names) => names.contains(&table.to_lowercase()),
        }
    }
}

pub async fn readable(s: &mut MySession, schema: &str) -> Readable {
    // An active role's grants are not all listed where the account's are (MySQL 8
    // shows an account only its own rows; several roles make CURRENT_ROLE a list):
    // with a role, or a server that has no CURRENT_ROLE, nothing is claimed.
    let role: Result<Option<mysql_async::Row>, _> =
        s.conn.query_first("SELECT CURRENT_ROLE()").await;
    match role.as_ref().map(|row| row.as_ref().map(|r| text_at(r, 0))) {
        Ok(Some(None)) => {}
        Ok(Some(Some(name))) if name.eq_ignore_ascii_case("NONE") => {}
        _ => return Readable::All,
    }
    let rows: Result<Vec<mysql_async::Row>, _> =
        s.conn.exec(SELECT_GRANTS, (schema, schema, schema)).await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!(error = %e, "privilege views unreadable; relations reported readable");
            return Readable::All;
        }
    };
    let grants: Vec<(Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| (text_at(r, 0), text_at(r, 1)))
        .collect();
    // Bounded like every answer of the server's: a grant list past this is no
    // list to check against.
    if grants.len() > 100_000
        || grants
            .iter()
            .any(|(level, _)| level.as_deref() != Some("table"))
    {
        return Readable::All;
    }
    Readable::Only(
        grants
            .into_iter()
            .filter_map(|(_, t)| t.map(|t| t.to_lowercase()))
            .collect(),
    )
}
