//! Bounds on what a connector follows of a server's answers. A server decides how
//! deep its documents nest and how many pages it hands out; these limits decide how
//! far onramp goes along, whatever the server says.

use crate::connectors::{ConnectorError, Fault};

/// How deep a connector follows nesting in what a server sends (types inside types,
/// documents inside documents); deeper levels are reported as their parent.
/// BigQuery allows 15 levels, MongoDB 100 (a depth real schemas never come near).
/// The most of a server's own text (an error message) kept in a job's message.
pub const MESSAGE_CHARS: usize = 300;

/// A server's text cut to [`MESSAGE_CHARS`] characters, before it is stored or published.
pub fn short(text: &str) -> String {
    text.chars().take(MESSAGE_CHARS).collect()
}

pub const MAX_NESTING: usize = 32;

/// How many pages (or polls) of one listing a connector follows before it gives up.
/// At the smallest pages servers hand out (hundreds of rows) it is millions of rows,
/// beyond any catalog; a server that keeps handing out empty pages stops here.
pub const MAX_PAGES: usize = 10_000;

/// Rows of one result a connector keeps: the COLUMNS listing of a catalog of
/// 100,000 tables of 20 columns. A row count is the server's claim (an Arrow batch
/// of null columns claims any number without sending a byte).
pub const MAX_ROWS: usize = 2_000_000;

/// Counts the pages of one listing.
pub struct Pages {
    what: &'static str,
    seen: usize,
}

impl Pages {
    pub fn new(what: &'static str) -> Pages {
        Pages { what, seen: 0 }
    }

    /// One more page: an error once there have been `MAX_PAGES`.
    pub fn one_more(&mut self) -> Result<(), ConnectorError> {
        self.seen += 1;
        if self.seen > MAX_PAGES {
            return Err(ConnectorError::new(
                Fault::Limit,
                format!(
                    "{} went on for more than {MAX_PAGES} pages; onramp stopped reading",
                    self.what
                ),
                "the server keeps sending further pages: check that the endpoint is the right one",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_that_never_ends_stops_at_the_page_cap() {
        let mut pages = Pages::new("an endless listing");
        for _ in 0..MAX_PAGES {
            pages.one_more().unwrap();
        }
        let e = pages.one_more().unwrap_err();
        assert_eq!(e.fault, Fault::Limit);
        assert!(e.message.contains("an endless listing"), "{}", e.message);
    }
}
