//! Reading AWS's XML answers (S3 listings, error bodies) element by element.

use quick_xml::events::Event;

const MAX_DEPTH: usize = 32;

/// Visits each element's full text (entity references resolved) with the path of
/// element names leading to it.
pub fn walk_text(xml: &str, mut visit: impl FnMut(&[String], &str) -> bool) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                // AWS's answers nest a few levels; a server's deeper nesting is refused
                // rather than followed (each level costs every later element).
                if path.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH} levels"));
                }
                path.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| e.to_string())?;
                let resolved = match name.as_ref() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                if let Some(c) = resolved {
                    text.push(c);
                }
            }
            Event::End(_) => {
                if !visit(&path, &text) {
                    return Ok(());
                }
                text.clear();
                path.pop();
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The text of the first `<tag>` in `xml`.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let mut found = None;
    let _ = walk_text(xml, |path, text| {
        if path.last().map(String::as_str) == Some(tag) {
            found = Some(text.to_string());
            return false;
        }
        true
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_past_the_limit_is_refused_and_costs_nothing_like_its_square() {
        // 4.8 million nested elements fit in 32 MiB; a walk that copied the path at
        // each one would take hours.
        let deep = format!("{}x{}", "<a>".repeat(200_000), "</a>".repeat(200_000));
        let started = std::time::Instant::now();
        let e = walk_text(&deep, |_, _| true).unwrap_err();
        assert!(e.contains("deeper than 32"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(
            xml_text("<E><Code>X</Code></E>", "Code").as_deref(),
            Some("X")
        );
    }
}
