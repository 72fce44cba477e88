//! A byte-level outline of one Rust file: its `mod` declarations (with the scopes of inline
//! modules) and the text of every fn carrying a lunora attribute, up to its body. Comments,
//! strings and char literals are skipped, fn bodies are never looked into. This is what lets
//! `sync` read a large crate in little more time than it takes to read the files: only the
//! attribute and signature of the annotated fns are ever parsed.

/// What the outline found, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `mod name;` (`inline: false`) or the start of `mod name { … }` (`inline: true`, closed
    /// by a later [`Entry::EndModule`]). `path` is a `#[path = "…"]` right before it;
    /// `rustfmt_skip` whether a `#[rustfmt::skip]` is among its attributes; `visibility` its
    /// `pub`, `pub(crate)`… (empty if private); `line`/`column` are those of the name.
    Module {
        name: String,
        inline: bool,
        path: Option<String>,
        rustfmt_skip: bool,
        visibility: String,
        line: usize,
        column: usize,
    },
    EndModule,
    /// An annotated fn: its text from the lunora attribute to just before the body, with
    /// `{}` as the body. `line`/`column` (1-based) are where the text starts.
    Item {
        text: String,
        line: usize,
        column: usize,
    },
}

struct Cursor<'a> {
    src: &'a [u8],
    pos: usize,
    /// The line of `counted` and where that line starts: lines are counted only up to where
    /// an entry needs them (see [`Cursor::line_column`]), not on every byte.
    line: usize,
    line_start: usize,
    counted: usize,
}

impl Cursor<'_> {
    fn peek(&self, ahead: usize) -> u8 {
        self.src.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn bump(&mut self) {
        self.pos = (self.pos + 1).min(self.src.len());
    }

    /// The 1-based line and (byte) column of `pos`.
    fn line_column(&mut self) -> (usize, usize) {
        let skipped = &self.src[self.counted..self.pos];
        self.line += skipped.iter().filter(|&&b| b == b'\n').count();
        if let Some(last) = skipped.iter().rposition(|&b| b == b'\n') {
            self.line_start = self.counted + last + 1;
        }
        self.counted = self.pos;
        (self.line, self.pos - self.line_start + 1)
    }

    fn done(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// Skips a comment, string or char literal starting here; returns whether it did.
    #[inline]
    fn skip_trivia(&mut self) -> bool {
        // A cheap test first: this runs at nearly every token, and most start no trivia.
        matches!(self.peek(0), b'/' | b'"' | b'\'' | b'r' | b'b' | b'c') && self.skip_trivia_here()
    }

    fn skip_trivia_here(&mut self) -> bool {
        match (self.peek(0), self.peek(1)) {
            (b'/', b'/') => {
                while !self.done() && self.peek(0) != b'\n' {
                    self.bump();
                }
                true
            }
            (b'/', b'*') => {
                let mut depth = 0usize;
                while !self.done() {
                    if self.peek(0) == b'/' && self.peek(1) == b'*' {
                        depth += 1;
                        self.bump();
                    } else if self.peek(0) == b'*' && self.peek(1) == b'/' {
                        depth -= 1;
                        self.bump();
                        if depth == 0 {
                            self.bump();
                            break;
                        }
                    }
                    self.bump();
                }
                true
            }
            (b'"', _) => {
                self.skip_string();
                true
            }
            (b'r', b'"') | (b'r', b'#') if self.raw_string_ahead(1) => {
                self.bump();
                self.skip_raw_string();
                true
            }
            (b'b' | b'c', b'"') => {
                self.bump();
                self.skip_string();
                true
            }
            (b'b' | b'c', b'r') if self.raw_string_ahead(2) => {
                self.bump();
                self.bump();
                self.skip_raw_string();
                true
            }
            (b'b', b'\'') => {
                self.bump();
                self.skip_char_or_lifetime();
                true
            }
            (b'\'', _) => {
                self.skip_char_or_lifetime();
                true
            }
            _ => false,
        }
    }

    /// `#*"` at `pos + from` (after an `r`).
    fn raw_string_ahead(&self, from: usize) -> bool {
        let mut i = from;
        while self.peek(i) == b'#' {
            i += 1;
        }
        self.peek(i) == b'"'
    }

    fn skip_string(&mut self) {
        self.bump(); // opening quote
        while !self.done() {
            match self.peek(0) {
                b'\\' => {
                    self.bump();
                    if !self.done() {
                        self.bump();
                    }
                }
                b'"' => {
                    self.bump();
                    return;
                }
                _ => self.bump(),
            }
        }
    }

    fn skip_raw_string(&mut self) {
        let mut hashes = 0;
        while self.peek(0) == b'#' {
            hashes += 1;
            self.bump();
        }
        self.bump(); // opening quote
        while !self.done() {
            if self.peek(0) == b'"' && (1..=hashes).all(|i| self.peek(i) == b'#') {
                for _ in 0..=hashes {
                    self.bump();
                }
                return;
            }
            self.bump();
        }
    }

    /// `'x'`, `'\n'`, `'é'` or a lifetime `'a`.
    fn skip_char_or_lifetime(&mut self) {
        self.bump(); // the quote
        if self.peek(0) == b'\\' {
            while !self.done() && self.peek(0) != b'\'' {
                if self.peek(0) == b'\\' {
                    self.bump();
                }
                self.bump();
            }
            self.bump();
            return;
        }
        // One UTF-8 character, then a quote means a char literal.
        let width = match self.peek(0) {
            b if b < 0x80 => 1,
            b if b >= 0xF0 => 4,
            b if b >= 0xE0 => 3,
            _ => 2,
        };
        if self.peek(width) == b'\'' {
            for _ in 0..=width {
                self.bump();
            }
        }
        // Otherwise a lifetime: its identifier is read as an ordinary word.
    }

    fn skip_whitespace_and_trivia(&mut self) {
        loop {
            if !self.done() && self.peek(0).is_ascii_whitespace() {
                self.bump();
            } else if !self.skip_trivia() {
                return;
            }
        }
    }

    /// An identifier or keyword, as bytes: most words are only compared, never kept.
    fn word(&mut self) -> &[u8] {
        let start = self.pos;
        if self.peek(0) == b'r' && self.peek(1) == b'#' {
            self.bump();
            self.bump();
        }
        while !self.done() && (self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'_' || self.peek(0) >= 0x80) {
            self.bump();
        }
        &self.src[start..self.pos]
    }

    /// From just after `[`, to just after its matching `]`.
    fn skip_brackets(&mut self) {
        let mut depth = 1usize;
        while !self.done() && depth > 0 {
            if self.skip_trivia() {
                continue;
            }
            match self.peek(0) {
                b'[' => depth += 1,
                b']' => depth -= 1,
                _ => {}
            }
            self.bump();
        }
    }
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// Whether `b` may start a comment, a literal, a word or a delimiter that [`outline`] tracks.
fn starts_something(b: u8) -> bool {
    matches!(b, b'/' | b'"' | b'\'' | b'{' | b'}' | b';' | b'#') || is_word_start(b)
}

/// The attribute body's path, e.g. `workflow` or `lunora_runtime::step`.
fn attribute_path(body: &str) -> &str {
    let end =
        body.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c.is_whitespace())).unwrap_or(body.len());
    body[..end].trim()
}

fn is_lunora(path: &str) -> bool {
    let compact: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    matches!(
        compact.as_str(),
        "workflow"
            | "step"
            | "lunora_runtime::workflow"
            | "lunora_runtime::step"
            | "lunora_macros::workflow"
            | "lunora_macros::step"
    )
}

/// `rustfmt::skip`, or a `cfg_attr(…, rustfmt::skip)`: the forms rustfmt honours on a `mod x;`
/// (it does not honour `::rustfmt::skip`), which keep it out of the module's file.
fn is_rustfmt_skip(body: &str) -> bool {
    // Both forms start with `r` or `c`: most attributes (`derive`, `workflow`…) are not copied.
    if !body.trim_start().starts_with(['r', 'c']) {
        return false;
    }
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let skip = |attr: &str| attr == "rustfmt::skip" || attr == "rustfmt_skip";
    match compact.strip_prefix("cfg_attr(").and_then(|rest| rest.strip_suffix(')')) {
        Some(inner) => inner.split(',').skip(1).any(skip),
        None => skip(&compact),
    }
}

/// `path = "…"` → the path.
fn path_value(body: &str) -> Option<String> {
    let rest = body.trim().strip_prefix("path")?.trim_start().strip_prefix('=')?.trim();
    syn::parse_str::<syn::LitStr>(rest).ok().map(|s| s.value())
}

/// Outlines `source`.
pub fn outline(source: &str) -> Vec<Entry> {
    let mut c = Cursor { src: source.as_bytes(), pos: 0, line: 1, line_start: 0, counted: 0 };
    let mut entries = Vec::new();
    let mut depth = 0usize;
    // Brace depths at which module bodies are open; items are only read at these depths.
    let mut modules: Vec<usize> = vec![0];
    let mut pending_path: Option<String> = None;
    let mut pending_skip = false;
    // Where the current item's first word is (after its attributes), for a module's visibility.
    let mut item_start: Option<usize> = None;
    while !c.done() {
        // Most bytes (spaces, digits, most punctuation) start nothing this outline looks at.
        if !starts_something(c.peek(0)) {
            c.bump();
            continue;
        }
        if c.skip_trivia() {
            continue;
        }
        let at_module_level = modules.last() == Some(&depth);
        let b = c.peek(0);
        match b {
            b'{' => {
                depth += 1;
                (pending_path, pending_skip, item_start) = (None, false, None);
                c.bump();
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                if modules.len() > 1 && modules.last() == Some(&depth) {
                    // Leaving an inline module: back to its parent's depth.
                    modules.pop();
                    entries.push(Entry::EndModule);
                }
                (pending_path, pending_skip, item_start) = (None, false, None);
                c.bump();
            }
            b';' => {
                (pending_path, pending_skip, item_start) = (None, false, None);
                c.bump();
            }
            b'#' if at_module_level && (c.peek(1) == b'[' || (c.peek(1) == b'!' && c.peek(2) == b'[')) => {
                let start = c.pos;
                let (line, column) = c.line_column();
                let inner = c.peek(1) == b'!';
                item_start = None;
                while c.peek(0) != b'[' {
                    c.bump();
                }
                c.bump();
                let body_start = c.pos;
                c.skip_brackets();
                let body = &source[body_start..c.pos.saturating_sub(1)];
                if let Some(path) = path_value(body) {
                    pending_path = Some(path);
                } else if !inner && is_rustfmt_skip(body) {
                    pending_skip = true;
                } else if is_lunora(attribute_path(body)) {
                    if let Some(end) = signature_end(&mut c) {
                        let text = format!("{}{{}}", &source[start..end]);
                        entries.push(Entry::Item { text, line, column });
                    }
                }
            }
            _ if is_word_start(b) => {
                let word_start = c.pos;
                // Compared in place: most words are in fn bodies and are never kept.
                let is_mod = c.word() == b"mod";
                if at_module_level && item_start.is_none() {
                    item_start = Some(word_start);
                }
                if is_mod && at_module_level {
                    let before = &source[item_start.unwrap_or(word_start)..word_start];
                    let visibility = before.split_whitespace().collect::<Vec<_>>().join(" ");
                    c.skip_whitespace_and_trivia();
                    let (line, column) = c.line_column();
                    let name = std::str::from_utf8(c.word()).unwrap_or("").to_owned();
                    c.skip_whitespace_and_trivia();
                    match c.peek(0) {
                        b';' if !name.is_empty() => {
                            entries.push(Entry::Module {
                                name,
                                inline: false,
                                path: pending_path.take(),
                                rustfmt_skip: pending_skip,
                                visibility,
                                line,
                                column,
                            });
                        }
                        b'{' if !name.is_empty() => {
                            entries.push(Entry::Module {
                                name,
                                inline: true,
                                path: pending_path.take(),
                                rustfmt_skip: pending_skip,
                                visibility,
                                line,
                                column,
                            });
                            (pending_skip, item_start) = (false, None);
                            depth += 1;
                            modules.push(depth);
                            c.bump();
                        }
                        _ => {}
                    }
                }
            }
            _ => c.bump(),
        }
    }
    entries
}

/// After a lunora attribute: the position of the fn body's `{`, or `None` if the item is not
/// a fn with a body. The cursor is left on that brace, so the body is then tracked as depth.
fn signature_end(c: &mut Cursor<'_>) -> Option<usize> {
    let mut seen_fn = false;
    let mut nesting = 0usize; // () [] <> do not contain the body
    while !c.done() {
        if c.skip_trivia() {
            continue;
        }
        match c.peek(0) {
            b'(' | b'[' => nesting += 1,
            b')' | b']' => nesting = nesting.saturating_sub(1),
            b'{' if nesting == 0 => return seen_fn.then_some(c.pos),
            b';' if nesting == 0 => return None,
            b if is_word_start(b) => {
                if c.word() == b"fn" {
                    seen_fn = true;
                }
                continue;
            }
            _ => {}
        }
        c.bump();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_modules_and_annotated_fns_and_skips_everything_else() {
        let source = r##"
//! mod fake_in_comment;
/* mod also_fake; #[workflow] fn nope() {} */
const S: &str = "mod in_string; #[workflow]";
const R: &str = r#"mod raw; "#;
const C: char = '{';
fn body<'a>(x: &'a str) { mod inside_fn {} #[workflow] fn no() {} }
#[path = "x/y.rs"]
pub mod declared;
pub(crate) mod inline {
    /// Docs.
    #[lunora_runtime::step(args = A, returns = B)]
    pub async fn charge(ctx: StepContext, args: A) -> Result<B> where A: Clone { todo!("}") }
}
#[workflow(name = "x")]
async fn flow(ctx: WorkflowContext<()>) -> Result<()> { Ok(()) }
"##;
        let entries = outline(source);
        assert_eq!(
            entries,
            [
                Entry::Module {
                    name: "declared".into(),
                    inline: false,
                    path: Some("x/y.rs".into()),
                    rustfmt_skip: false,
                    visibility: "pub".into(),
                    line: 9,
                    column: 9
                },
                Entry::Module {
                    name: "inline".into(),
                    inline: true,
                    path: None,
                    rustfmt_skip: false,
                    visibility: "pub(crate)".into(),
                    line: 10,
                    column: 16
                },
                Entry::Item {
                    text: "#[lunora_runtime::step(args = A, returns = B)]\n    pub async fn charge(ctx: StepContext, args: A) -> Result<B> where A: Clone {}".into(),
                    line: 12,
                    column: 5
                },
                Entry::EndModule,
                Entry::Item {
                    text: "#[workflow(name = \"x\")]\nasync fn flow(ctx: WorkflowContext<()>) -> Result<()> {}".into(),
                    line: 15,
                    column: 1
                },
            ]
        );
    }

    #[test]
    fn a_rustfmt_skip_belongs_to_the_module_declared_after_it_only() {
        let source = r#"#![rustfmt::skip]
mod inner_attribute_does_not_count;
#[rustfmt::skip] // generated
#[cfg(all())]
pub mod skipped;
#[rustfmt::skip]
const X: u8 = 1;
pub(in crate::a) mod after_a_skipped_const;
#[cfg_attr(rustfmt, rustfmt::skip)]
mod skipped_through_cfg_attr;
#[rustfmt::skip::macros(m)]
mod not_skipped;
#[rustfmt::skip]
mod skipped_inline {
    mod not_inherited;
}
"#;
        let modules: Vec<(String, bool, String)> = outline(source)
            .into_iter()
            .filter_map(|e| match e {
                Entry::Module { name, rustfmt_skip, visibility, .. } => Some((name, rustfmt_skip, visibility)),
                _ => None,
            })
            .collect();
        let expected = [
            ("inner_attribute_does_not_count", false, ""),
            ("skipped", true, "pub"),
            ("after_a_skipped_const", false, "pub(in crate::a)"),
            ("skipped_through_cfg_attr", true, ""),
            ("not_skipped", false, ""),
            ("skipped_inline", true, ""),
            ("not_inherited", false, ""),
        ];
        let expected: Vec<(String, bool, String)> =
            expected.iter().map(|(n, s, v)| (n.to_string(), *s, v.to_string())).collect();
        assert_eq!(modules, expected);
    }
}
