//! Error and answer text kept short enough for a log line or a history
//! entry.

/// The error with its causes (reqwest's Display hides them), shortened.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    short(&text)
}

/// Trimmed, and cut after 200 characters.
pub fn short(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &t[..i]),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(short("  ok \n"), "ok");
        let long = "é".repeat(300);
        let cut = short(&long);
        assert_eq!(cut.chars().count(), 203);
        assert!(cut.ends_with("..."));
    }
}
