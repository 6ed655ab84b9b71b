//! What a server sends is hostile: its text is bounded and cleaned before it is
//! stored, logged or published.

/// `text` cut to at most `max` bytes on a character boundary, marked as cut, with
/// control characters other than newline and tab replaced so a server cannot forge
/// lines or terminal sequences in logs and answers.
pub fn cut_target_text(text: &str, max: usize) -> String {
    let clean = |c: char| {
        if c.is_control() && c != '\n' && c != '\t' {
            '\u{fffd}'
        } else {
            c
        }
    };
    if text.len() <= max {
        return text.chars().map(clean).collect();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let kept: String = text[..end].chars().map(clean).collect();
    format!("{kept}… [cut: {} more bytes]", text.len() - end)
}
