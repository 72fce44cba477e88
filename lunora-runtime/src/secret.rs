//! Keeping credentials out of text that came back from a server, and out of shown URLs.
//!
//! A Worker or an API may echo a request's `Authorization` header in an error body, a redirect
//! or a result, and not always verbatim. [`Redactor::redact`] looks for each secret in the
//! text as it is and after decoding it, up to [`MAX_DECODE_DEPTH`] times (so double encodings
//! are found too), each decoding pass undoing all of:
//!
//! - string escapes of JSON, JavaScript and Rust: `\uXXXX` (surrogate pairs included, either
//!   hex case), `\u{X…}`, `\xXX`, `\/`, `\\`, `\"`, `\'`, `\n`, `\r`, `\t`, `\b`, `\f`;
//! - percent-encoding: `%XX` in either case, multi-byte UTF-8 sequences included (`+` stays);
//! - HTML character references: `&#NN;`, `&#xXX;`, `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`;
//!
//! and also finds base64 (standard or URL-safe alphabet, padded or not) of any text that holds
//! a secret, such as `Bearer <token>` or `user:password`. Every match is replaced, as the
//! whole span it occupies in the original text (a whole base64 run, for base64), by
//! [`REDACTED`]. A secret only partly echoed (cut in half, or reversed, or otherwise
//! transformed) is not recognised.
//!
//! Secrets shorter than [`MIN_SECRET_CHARS`] cannot be told apart from ordinary text; the
//! callers (`ctx.run`, the REST client) refuse to send them.

use std::borrow::Cow;
use std::ops::Range;

use base64::Engine as _;

/// What replaces a secret wherever it would otherwise appear.
pub const REDACTED: &str = "[REDACTED]";

/// The shortest secret lunora sends: shorter ones would make redaction either miss echoes or
/// erase ordinary words.
pub const MIN_SECRET_CHARS: usize = 8;

/// How many decoding passes are tried on top of the raw text.
pub const MAX_DECODE_DEPTH: usize = 4;

/// The characters a base64 run is made of (both alphabets, and padding).
fn is_base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=')
}

/// Finds secrets in text and replaces them by [`REDACTED`]. Its `Debug` shows no secret.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Matched as they are, in the raw and in the decoded text.
    plain: Vec<String>,
    /// The base64 spellings of each secret's inner bytes, one per alignment and alphabet.
    base64: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("secrets", &self.plain.len()).finish()
    }
}

impl Redactor {
    /// A redactor for these secrets (empty ones are ignored).
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut redactor = Self::default();
        for secret in secrets {
            redactor.add(secret.as_ref());
        }
        redactor
    }

    fn add(&mut self, secret: &str) {
        if secret.is_empty() || self.plain.iter().any(|s| s == secret) {
            return;
        }
        self.plain.push(secret.to_owned());
        // Embedded in a longer text, the secret starts at any offset modulo 3; its bytes from
        // the next 3-byte boundary on encode to the same characters whatever surrounds them.
        let bytes = secret.as_bytes();
        for skip in 0..3.min(bytes.len()) {
            let whole_groups = (bytes.len() - skip) / 3 * 3;
            if whole_groups == 0 {
                continue;
            }
            let inner = &bytes[skip..skip + whole_groups];
            for engine in
                [&base64::engine::general_purpose::STANDARD_NO_PAD, &base64::engine::general_purpose::URL_SAFE_NO_PAD]
            {
                let spelled = engine.encode(inner);
                if !self.base64.contains(&spelled) {
                    self.base64.push(spelled);
                }
            }
        }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty()
    }

    /// `text` with every occurrence of a secret, in any spelling the module documents,
    /// replaced by [`REDACTED`].
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.plain.is_empty() || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut found: Vec<Range<usize>> = Vec::new();
        let mut level = Level::raw(text);
        for depth in 0..=MAX_DECODE_DEPTH {
            self.find_in(&level, &mut found);
            if depth == MAX_DECODE_DEPTH {
                break;
            }
            match level.decoded() {
                Some(next) => level = next,
                None => break,
            }
        }
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        found.sort_by_key(|r| r.start);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for range in found {
            if range.end <= at {
                continue; // inside a span already replaced
            }
            if range.start >= at {
                out.push_str(&text[at..range.start]);
                out.push_str(REDACTED);
            }
            at = range.end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// [`redact`](Self::redact) into an owned string.
    pub fn redact_to_string(&self, text: &str) -> String {
        self.redact(text).into_owned()
    }

    /// The original spans of every match in one decoding level.
    fn find_in(&self, level: &Level, found: &mut Vec<Range<usize>>) {
        for secret in &self.plain {
            for (at, _) in level.text.match_indices(secret.as_str()) {
                found.push(level.original(at..at + secret.len()));
            }
        }
        for spelled in &self.base64 {
            for (at, _) in level.text.match_indices(spelled.as_str()) {
                // The whole run: its edges hold the secret's first and last bits mixed with
                // the neighbouring characters'.
                // (`=` only pads the end, so a run does not extend left past one.)
                let start = level.text[..at].trim_end_matches(|c| c != '=' && is_base64_char(c)).len();
                let tail = &level.text[at..];
                let end = at + tail.len() - tail.trim_start_matches(is_base64_char).len();
                found.push(level.original(start..end));
            }
        }
    }
}

/// A text and, for each of its characters, the span of the original text it decodes from.
struct Level {
    text: String,
    /// The byte offset in `text` of each character.
    starts: Vec<usize>,
    /// The byte span in the original of each character.
    spans: Vec<Range<usize>>,
}

impl Level {
    fn raw(text: &str) -> Self {
        let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let spans = text.char_indices().map(|(i, c)| i..i + c.len_utf8()).collect();
        Level { text: text.to_owned(), starts, spans }
    }

    /// The span in the original of `range` (character-aligned bytes of `text`).
    fn original(&self, range: Range<usize>) -> Range<usize> {
        let first = self.starts.partition_point(|&s| s < range.start);
        let last = self.starts.partition_point(|&s| s < range.end) - 1;
        self.spans[first].start..self.spans[last].end
    }

    /// One decoding pass, or `None` when nothing in the text decodes.
    fn decoded(&self) -> Option<Level> {
        if !self.text.contains(['\\', '%', '&']) {
            return None;
        }
        let chars: Vec<char> = self.text.chars().collect();
        let mut next = Level { text: String::with_capacity(self.text.len()), starts: Vec::new(), spans: Vec::new() };
        let mut changed = false;
        let mut i = 0;
        while i < chars.len() {
            let decoded = match chars[i] {
                '\\' => unescape(&chars[i..]),
                '%' => unpercent(&chars[i..]),
                '&' => unreference(&chars[i..]),
                _ => None,
            };
            let (c, used) = decoded.unwrap_or((chars[i], 1));
            changed |= used > 1;
            next.starts.push(next.text.len());
            next.text.push(c);
            next.spans.push(self.spans[i].start..self.spans[i + used - 1].end);
            i += used;
        }
        changed.then_some(next)
    }
}

/// The value of `digits` hex digits at the start of `chars`.
fn hex(chars: &[char], digits: usize) -> Option<u32> {
    if chars.len() < digits {
        return None;
    }
    chars[..digits].iter().try_fold(0u32, |n, c| Some(n * 16 + c.to_digit(16)?))
}

/// A string escape at the start of `chars` (which starts with `\`): the character and how
/// many characters it takes.
fn unescape(chars: &[char]) -> Option<(char, usize)> {
    let simple = match chars.get(1)? {
        '/' => '/',
        '\\' => '\\',
        '"' => '"',
        '\'' => '\'',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'x' => return Some((char::from_u32(hex(&chars[2..], 2)?)?, 4)),
        'u' if chars.get(2) == Some(&'{') => {
            let close = chars.iter().take(10).position(|&c| c == '}')?;
            let digits = close.checked_sub(3).filter(|d| (1..=6).contains(d))?;
            return Some((char::from_u32(hex(&chars[3..], digits)?)?, close + 1));
        }
        'u' => {
            let unit = hex(&chars[2..], 4)?;
            if let Some(c) = char::from_u32(unit) {
                return Some((c, 6));
            }
            // A high surrogate followed by `\uDC00`–`\uDFFF`.
            if !(0xD800..0xDC00).contains(&unit) || chars.get(6..8)? != ['\\', 'u'] {
                return None;
            }
            let low = hex(&chars[8..], 4).filter(|l| (0xDC00..0xE000).contains(l))?;
            return Some((char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?, 12));
        }
        _ => return None,
    };
    Some((simple, 2))
}

/// A percent-escape at the start of `chars` (which starts with `%`): one character, from
/// one `%XX` or from the two to four of a UTF-8 sequence.
fn unpercent(chars: &[char]) -> Option<(char, usize)> {
    let byte = |k: usize| -> Option<u8> {
        if chars.get(3 * k) != Some(&'%') {
            return None;
        }
        hex(chars.get(3 * k + 1..)?, 2).map(|b| b as u8)
    };
    let lead = byte(0)?;
    let width = match lead {
        0x00..=0x7F => return Some((char::from(lead), 3)),
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let bytes: Vec<u8> = (0..width).map(byte).collect::<Option<_>>()?;
    let c = std::str::from_utf8(&bytes).ok()?.chars().next()?;
    Some((c, 3 * width))
}

/// An HTML character reference at the start of `chars` (which starts with `&`).
fn unreference(chars: &[char]) -> Option<(char, usize)> {
    let end = chars.iter().take(12).position(|&c| c == ';')?;
    let name: String = chars[1..end].iter().collect();
    let c = match name.as_str() {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let number = name.strip_prefix('#')?;
            let value = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(value)?
        }
    };
    Some((c, end + 1))
}

/// The userinfo (`user:password`) of an absolute URL, if it has one.
pub fn url_userinfo(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rfind('@').map(|at| &authority[..at])
}

/// `url` as it may be shown: its userinfo, if any, replaced by [`REDACTED`]
/// (`https://[REDACTED]@host/…`). A user name can be a token too, so all of it goes.
pub fn url_for_display(url: &str) -> Cow<'_, str> {
    match url_userinfo(url) {
        Some(userinfo) => {
            let start = url.find("://").map_or(0, |i| i + 3);
            Cow::Owned(format!("{}{REDACTED}{}", &url[..start], &url[start + userinfo.len()..]))
        }
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "Zq9X/wVb7+Lm3KpT";

    fn redact(text: &str) -> String {
        Redactor::new([TOKEN]).redact_to_string(text)
    }

    #[test]
    fn raw_and_json_escaped_spellings() {
        assert_eq!(redact("a Zq9X/wVb7+Lm3KpT b"), "a [REDACTED] b");
        assert_eq!(redact(r"a Zq9X\/wVb7+Lm3KpT b"), "a [REDACTED] b");
        assert_eq!(redact(r"a \u005Aq9X\u002fwVb7\u002BLm3Kp\u0054 b"), "a [REDACTED] b");
        assert_eq!(redact(r"a Zq9X\x2fwVb7+Lm3Kp\u{54} b"), "a [REDACTED] b");
        // Escaped twice: JSON in a JSON string.
        assert_eq!(redact(r#"{"m": "{\"t\": \"Zq9X\\/wVb7\\u002BLm3KpT\"}"}"#), r#"{"m": "{\"t\": \"[REDACTED]\"}"}"#);
    }

    #[test]
    fn surrogate_pairs_and_non_ascii_secrets() {
        let redactor = Redactor::new(["pässwörd-🔑-long"]);
        assert_eq!(redactor.redact(r"x p\u00e4ssw\u00F6rd-\ud83d\udd11-long y"), "x [REDACTED] y");
        assert_eq!(redactor.redact("x p%C3%A4ssw%c3%b6rd-%F0%9F%94%91-long y"), "x [REDACTED] y");
        assert_eq!(redactor.redact("a lone \\ud83d stays"), "a lone \\ud83d stays");
    }

    #[test]
    fn percent_encoded_in_either_case_and_twice() {
        assert_eq!(redact("?t=Zq9X%2fwVb7%2BLm3KpT&u=1"), "?t=[REDACTED]&u=1");
        assert_eq!(redact("?t=%5Aq9X%252FwVb7%252BLm3KpT"), "?t=[REDACTED]");
        // `+` is not a space here: it stays what it is.
        assert_eq!(redact("Zq9X/wVb7 Lm3KpT"), "Zq9X/wVb7 Lm3KpT");
    }

    #[test]
    fn html_references() {
        assert_eq!(redact("<p>Zq9X&#47;wVb7&#x2B;Lm3KpT</p>"), "<p>[REDACTED]</p>");
    }

    #[test]
    fn base64_at_every_alignment_and_in_both_alphabets() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        for prefix in ["", "B", "Be", "Bearer ", "user:"] {
            let plain = format!("{prefix}{TOKEN} and more");
            for encoded in [STANDARD.encode(&plain), URL_SAFE_NO_PAD.encode(&plain)] {
                assert_eq!(redact(&format!("auth={encoded};")), "auth=[REDACTED];", "{prefix:?} {encoded}");
            }
        }
    }

    #[test]
    fn unrelated_text_is_left_alone() {
        let text = r"100% \u0041 &amp; \q %zz &#xZZ; Zq9X/wVb7+Lm3Kp";
        assert!(matches!(Redactor::new([TOKEN]).redact(text), Cow::Borrowed(_)));
        assert_eq!(Redactor::new([""]).redact("anything"), "anything");
        assert_eq!(format!("{:?}", Redactor::new([TOKEN])), "Redactor { secrets: 1 }");
    }

    #[test]
    fn overlapping_matches_become_one_redaction() {
        let redactor = Redactor::new(["Bearer Zq9X/wVb7+Lm3KpT", TOKEN]);
        assert_eq!(redactor.redact("h: Bearer Zq9X/wVb7+Lm3KpT."), "h: [REDACTED].");
    }

    #[test]
    fn userinfo_is_hidden_from_shown_urls() {
        assert_eq!(url_for_display("https://u:p%40ss@h.example:8/a?b#c"), "https://[REDACTED]@h.example:8/a?b#c");
        assert_eq!(url_for_display("http://token@h/"), "http://[REDACTED]@h/");
        assert_eq!(url_for_display("http://h/path@x"), "http://h/path@x");
        assert_eq!(url_userinfo("http://a:b@h"), Some("a:b"));
        assert_eq!(url_userinfo("not a url"), None);
    }
}
