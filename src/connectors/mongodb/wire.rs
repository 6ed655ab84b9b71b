//! What the relay lets through from a MongoDB server to the driver. The driver
//! trusts the server's message length (up to what the server's own `hello` said)
//! and decodes each reply's BSON recursively, so a reply of deeply nested documents
//! overflows the worker's stack before onramp's code sees it. The relay reads each
//! server message whole, refuses one over the size limit, and walks its documents
//! without recursion, refusing nesting deeper than MongoDB itself allows.

/// MongoDB refuses documents nested deeper than 100 levels.
pub const MAX_DEPTH: usize = 100;

const OP_REPLY: i32 = 1;
const OP_MSG: i32 = 2013;

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(i32::from_le_bytes(bytes))
}

/// The length a message header (its first 4 bytes) announces.
pub fn message_length(header: &[u8; 16]) -> i32 {
    i32::from_le_bytes([header[0], header[1], header[2], header[3]])
}

/// Checks the BSON document at the start of `b`; its length.
pub fn check_document(b: &[u8]) -> Result<usize, String> {
    let bad = |why: &str| Err(format!("a malformed document from the server: {why}"));
    let len = match i32_at(b, 0) {
        Some(n) if n >= 5 && (n as usize) <= b.len() => n as usize,
        _ => return bad("its length"),
    };
    // Ends of the documents open at this point, innermost last.
    let mut ends = vec![len];
    let mut at = 4;
    while let Some(&end) = ends.last() {
        if at + 1 == end {
            if b.get(at) != Some(&0) {
                return bad("no terminator");
            }
            at += 1;
            ends.pop();
            continue;
        }
        if at >= end {
            return bad("an element past its document");
        }
        let ty = b[at];
        at += 1;
        // The element's name: a NUL-terminated string.
        let name_end = b[at..end]
            .iter()
            .position(|&c| c == 0)
            .ok_or("a name without end")?;
        at += name_end + 1;
        let fixed = |at: usize, n: usize| -> Result<usize, String> {
            if at + n > end {
                Err("a value past its document".into())
            } else {
                Ok(at + n)
            }
        };
        let string = |at: usize| -> Result<usize, String> {
            match i32_at(b, at) {
                Some(n) if n >= 1 && at + 4 + n as usize <= end => Ok(at + 4 + n as usize),
                _ => Err("a string past its document".into()),
            }
        };
        at = match ty {
            0x01 | 0x09 | 0x11 | 0x12 => fixed(at, 8)?,
            0x02 | 0x0D | 0x0E => string(at)?,
            0x03 | 0x04 => {
                let Some(n) = i32_at(b, at).filter(|n| *n >= 5 && at + *n as usize <= end) else {
                    return bad("a nested document's length");
                };
                if ends.len() >= MAX_DEPTH {
                    return Err(format!(
                        "the server sent documents nested deeper than {MAX_DEPTH} levels"
                    ));
                }
                ends.push(at + n as usize);
                at + 4
            }
            0x05 => match i32_at(b, at) {
                Some(n) if n >= 0 && at + 5 + n as usize <= end => at + 5 + n as usize,
                _ => return bad("binary past its document"),
            },
            0x06 | 0x0A | 0xFF | 0x7F => at,
            0x07 => fixed(at, 12)?,
            0x08 => fixed(at, 1)?,
            0x0B => {
                let first = b[at..end]
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or("a regex without end")?;
                let rest = at + first + 1;
                let second = b[rest..end]
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or("a regex without end")?;
                rest + second + 1
            }
            0x0C => {
                let after = string(at)?;
                if after + 12 > end {
                    return bad("a pointer past its document");
                }
                after + 12
            }
            0x0F => {
                // Code with scope: total length, the code, then a document.
                let Some(total) = i32_at(b, at).filter(|n| *n >= 14 && at + *n as usize <= end)
                else {
                    return bad("code with scope");
                };
                let scope = string(at + 4)?;
                let Some(n) = i32_at(b, scope)
                    .filter(|n| *n >= 5 && scope + *n as usize <= at + total as usize)
                else {
                    return bad("a scope's length");
                };
                if ends.len() >= MAX_DEPTH {
                    return Err(format!(
                        "the server sent documents nested deeper than {MAX_DEPTH} levels"
                    ));
                }
                ends.push(scope + n as usize);
                scope + 4
            }
            0x10 => fixed(at, 4)?,
            0x13 => fixed(at, 16)?,
            _ => return bad("an unknown element type"),
        };
    }
    Ok(len)
}

/// Checks every document of one server message (`body` is what follows the
/// 16-byte header). Messages of other kinds pass unread: the driver understands
/// only these two.
pub fn check_message(op_code: i32, body: &[u8]) -> Result<(), String> {
    match op_code {
        OP_MSG => {
            let flags = i32_at(body, 0).ok_or("a message without flags")?;
            // The checksum flag adds 4 bytes at the end.
            let end = if flags & 1 == 1 {
                body.len().saturating_sub(4)
            } else {
                body.len()
            };
            let mut at = 4;
            while at < end {
                let kind = body[at];
                at += 1;
                match kind {
                    0 => {
                        let n = check_document(body.get(at..end).unwrap_or_default())?;
                        at += n;
                    }
                    1 => {
                        let size = i32_at(body, at)
                            .filter(|n| *n >= 4 && at + *n as usize <= end)
                            .ok_or("a document sequence's size")?
                            as usize;
                        let seq_end = at + size;
                        let id_end = body[at + 4..seq_end]
                            .iter()
                            .position(|&c| c == 0)
                            .ok_or("a sequence without a name")?;
                        let mut inner = at + 4 + id_end + 1;
                        while inner < seq_end {
                            inner += check_document(&body[inner..seq_end])?;
                        }
                        at = seq_end;
                    }
                    _ => return Err("an unknown section kind".into()),
                }
            }
        }
        OP_REPLY => {
            let mut at = 20;
            while at < body.len() {
                at += check_document(&body[at..])?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{Bson, Document, doc};

    fn bytes(d: &Document) -> Vec<u8> {
        let mut out = Vec::new();
        d.to_writer(&mut out).unwrap();
        out
    }

    #[test]
    fn ordinary_documents_pass_with_their_length() {
        let d = doc! {"a": 1, "s": "x", "n": {"m": [1, 2, {"k": Bson::Null}]}, "f": 1.5,
        "b": true, "t": mongodb::bson::DateTime::now(), "o": mongodb::bson::oid::ObjectId::new(),
        "bin": mongodb::bson::Binary { subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes: vec![1, 2] },
        "re": mongodb::bson::Regex { pattern: "a".into(), options: "i".into() }, "l": 5i64};
        let b = bytes(&d);
        assert_eq!(check_document(&b).unwrap(), b.len());
    }

    #[test]
    fn nesting_deeper_than_mongodb_allows_is_refused_without_recursion() {
        // 100,000 levels of {"a": {"a": ...}}, built as bytes (a Document that deep
        // could not even be dropped without recursion).
        let depth = 100_000usize;
        let mut b = Vec::new();
        for _ in 0..depth {
            b.extend_from_slice(&[0, 0, 0, 0, 0x03, b'a', 0]);
        }
        b.extend_from_slice(&[5, 0, 0, 0, 0]);
        b.extend(std::iter::repeat_n(0, depth));
        // Fill in the lengths from the inside out.
        let mut len = 5usize;
        for level in (0..depth).rev() {
            len += 4 + 3 + 1;
            let at = level * 7;
            b[at..at + 4].copy_from_slice(&(len as i32).to_le_bytes());
        }
        let e = check_document(&b).unwrap_err();
        assert!(e.contains("deeper than 100"), "{e}");
    }

    #[test]
    fn truncated_or_lying_documents_are_refused() {
        let b = bytes(&doc! {"a": "xyz", "n": {"m": 1}});
        for cut in 0..b.len() {
            assert!(check_document(&b[..cut]).is_err(), "{cut}");
        }
        let mut lying = b.clone();
        lying[0] = 0xff;
        assert!(check_document(&lying).is_err());
    }
}
