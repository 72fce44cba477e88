//! Text from an API reaching a terminal: nothing in it may act on the terminal.
//!
//! An instance id, a status, a step name, an error message or an output can hold escape
//! sequences (`ESC [2J` clears the screen, `ESC ]0;…BEL` retitles the window, an OSC 8 link
//! hides its target), a `\r` that overwrites what was printed before it, C1 controls (which
//! some terminals obey as UTF-8 too) or invisible characters that reorder or hide text (bidi
//! overrides such as U+202E, zero-width spaces). [`escape`] writes every such character as a
//! visible escape; [`escape_json`] does the same for JSON text with JSON's own `\uXXXX`, so the
//! output still decodes to the same values.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is: C0 and C1 controls and DEL, bidi
/// formatting characters (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), zero-width and
/// invisible characters (U+200B–U+200D, U+2060–U+2065, U+FEFF) and the line and paragraph
/// separators U+2028/U+2029.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `text` with every unsafe character written as `\n`, `\r`, `\t` or `\u{…}` (lower-case hex).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One line of `text` for a table cell or a `key  value` line: line breaks and tabs become
/// spaces, every other unsafe character is escaped.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    escape(&text.replace(['\n', '\r', '\t'], " ")).into_owned().into()
}

/// JSON text (as serde_json writes it, which escapes only the C0 controls in strings) with
/// the other unsafe characters written as `\uXXXX`. They can only occur inside strings, so
/// the result is valid JSON with the same values.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    let outside_c0 = |c: char| c > '\u{1f}' && is_unsafe(c);
    if !json.chars().any(outside_c0) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if outside_c0(c) {
            // Every unsafe character past the C0 range is in the Basic Multilingual Plane.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_characters_are_escaped() {
        assert_eq!(
            escape("a\u{1b}[2Jb\r\n\t\u{7}\u{7f}\u{9b}31m\u{202e}x\u{200b}\u{feff}"),
            r"a\u{1b}[2Jb\r\n\t\u{7}\u{7f}\u{9b}31m\u{202e}x\u{200b}\u{feff}"
        );
        assert_eq!(one_line("a\r\nb\tc\u{1b}"), r"a  b c\u{1b}");
        assert!(matches!(escape("plain é ☕ — \\u{1b}"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_json_with_the_same_values() {
        let value = serde_json::json!({"id": "a\u{1b}\u{7f}\u{85}\u{9b}\u{202e}\u{2028}é"});
        let text = serde_json::to_string_pretty(&value).unwrap();
        let escaped = escape_json(&text);
        assert!(!escaped.chars().any(|c| is_unsafe(c) && c != '\n'), "{escaped}");
        assert!(escaped.contains(r"\u001b\u007f\u0085\u009b\u202e\u2028é"), "{escaped}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&escaped).unwrap(), value);
    }
}
