//! A byte-level outline of one Rust file: what the scanner needs from it and nothing more. Its
//! `mod` items (with the scopes of inline modules), `use` items, `cfg`s, the text of every fn
//! carrying an attribute that may be lunora's (up to its body), and the macros that may hide
//! modules or workflows. Comments, strings and char literals are skipped; the bodies of fns and
//! of every other braced item are never looked into (only their braces are counted). This is
//! what lets `sync` read a large crate in little more time than it takes to read the files:
//! only the attribute and signature of the annotated fns are ever parsed.

use lunora_shared::attributes::AttributeKind;

/// A path as written, e.g. `::lunora_runtime::step`: a leading `::`, then its segments
/// (raw identifiers keep their `r#`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimplePath {
    pub leading_colon: bool,
    pub segments: Vec<String>,
}

impl SimplePath {
    /// The last segment, without `r#`.
    pub fn last(&self) -> &str {
        self.segments.last().map(|s| unraw(s)).unwrap_or("")
    }
}

impl std::fmt::Display for SimplePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", if self.leading_colon { "::" } else { "" }, self.segments.join("::"))
    }
}

/// An identifier without its `r#`: `r#async` names the file `async.rs`, and is the same name as
/// `async` would be if that were not a keyword.
pub fn unraw(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

/// What a `use` item (or an `extern crate`) brings into its module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Import {
    /// `use a::b;` (name `b`), `use a::b as c;` (name `c`), `use a::{self};` (name `a`).
    Named { name: String, target: SimplePath },
    /// `use a::*;`
    Glob(SimplePath),
}

/// What the outline found, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `mod name;` (`inline: false`) or the start of `mod name { … }` (`inline: true`, closed
    /// by a later [`Entry::EndModule`]). `path` is its first `#[path = "…"]`; `rustfmt_skip`
    /// whether a `#[rustfmt::skip]` is among its attributes; `cfgs` the predicates of its
    /// `#[cfg(…)]`s; `visibility` its `pub`, `pub(crate)`… (empty if private); `line`/`column`
    /// are those of the name.
    Module {
        name: String,
        inline: bool,
        path: Option<String>,
        rustfmt_skip: bool,
        visibility: String,
        cfgs: Vec<String>,
        line: usize,
        column: usize,
    },
    EndModule,
    /// `#![cfg(…)]`: the enclosing module (the file's own, or the inline module's) is conditional.
    ModuleCfg(String),
    /// The imports of a `use` item or an `extern crate`.
    Use(Vec<Import>),
    /// A fn with attributes that may be lunora's: its text from the first of them to just before
    /// the body, with `{}` as the body; `attributes` are those candidates' paths, `cfgs` the
    /// predicates of all its `#[cfg(…)]`s. `line`/`column` (1-based) are where the text starts.
    Item {
        text: String,
        line: usize,
        column: usize,
        attributes: Vec<SimplePath>,
        cfgs: Vec<String>,
    },
    /// A macro invocation or `macro_rules!` at module level whose tokens hold a `mod` item or a
    /// `#[workflow]`/`#[step]`-like attribute, which the scanner cannot see through (it does not
    /// expand macros). `name` is the macro's; `line`/`column` where it starts.
    Macro {
        name: String,
        line: usize,
        column: usize,
    },
    /// `#[cfg_attr(predicate, …)]` applying an attribute named `workflow` or `step` (`name`, as
    /// written): the scanner does not evaluate cfg_attr, so it cannot tell whether or where
    /// such a workflow exists. `line`/`column` are those of the `#`.
    ConditionalAttribute {
        name: String,
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
        if self.src[start..].starts_with(b"r#") {
            self.pos += 2;
        }
        // A table look-up a byte: most of a crate's words are in bodies, only skipped over.
        self.pos += self.src[self.pos..].iter().take_while(|&&b| WORD_BYTE[usize::from(b)]).count();
        &self.src[start..self.pos]
    }

    /// Moves to the next `{` or `}` (or the end) outside comments, strings and char literals:
    /// inside a braced item that is not a module (a fn body, an impl, a struct literal…) nothing
    /// else matters. It walks the bytes exactly as [`outline`]'s loop would there, without its
    /// dispatch on every byte: most of a crate's text is in such bodies.
    fn skip_to_brace(&mut self) {
        while let Some(&b) = self.src.get(self.pos) {
            match BYTE_CLASS[usize::from(b)] {
                ByteClass::Brace => return,
                ByteClass::Inert => self.pos += 1,
                ByteClass::Trivia => {
                    if !self.skip_trivia() {
                        self.pos += 1;
                    }
                }
                ByteClass::WordStart => {
                    if !self.skip_trivia() {
                        self.word();
                    }
                }
            }
        }
    }

    /// The line and column of `pos`, which is usually past what was counted so far.
    fn line_column_at(&mut self, pos: usize) -> (usize, usize) {
        if pos < self.counted {
            (self.line, self.line_start, self.counted) = (1, 0, 0);
        }
        let here = self.pos;
        self.pos = pos;
        let at = self.line_column();
        self.pos = here;
        at
    }

    /// After a word: whether a `!` follows (then skipped, with the whitespace after it).
    fn bang_ahead(&mut self) -> bool {
        let mut i = 0;
        while self.peek(i).is_ascii_whitespace() {
            i += 1;
        }
        if self.peek(i) != b'!' {
            return false;
        }
        for _ in 0..=i {
            self.bump();
        }
        self.skip_whitespace_and_trivia();
        true
    }

    /// From an item's keyword: to its `;` at brace depth 0 (where the cursor is left), or to
    /// an unbalanced `}`. Returns that position.
    fn statement_end(&mut self) -> usize {
        let mut depth = 0usize;
        while !self.done() {
            if self.skip_trivia() {
                continue;
            }
            match self.peek(0) {
                b'{' => depth += 1,
                b'}' if depth == 0 => return self.pos,
                b'}' => depth -= 1,
                b';' if depth == 0 => return self.pos,
                _ => {}
            }
            self.bump();
        }
        self.pos
    }

    /// From an opening delimiter to just after its match. Returns whether the tokens in
    /// between hold a `mod` item (`mod x`, `mod $name`) or a `#[…workflow]`/`#[…step]`.
    fn skip_group_mentioning_modules(&mut self, source: &str) -> bool {
        let mut depth = 0usize;
        let mut mentions = false;
        while !self.done() {
            if self.skip_trivia() {
                continue;
            }
            match self.peek(0) {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.bump();
                        return mentions;
                    }
                }
                b'#' => {
                    let open = if self.peek(1) == b'!' { 2 } else { 1 };
                    if self.peek(open) == b'[' {
                        for _ in 0..=open {
                            self.bump();
                        }
                        let start = self.pos;
                        self.skip_brackets();
                        let last = simple_path(attribute_path(&source[start..self.pos.saturating_sub(1)]));
                        mentions |= AttributeKind::of(last.last()).is_some();
                        continue;
                    }
                }
                b if is_word_start(b) => {
                    if self.word() == b"mod" {
                        self.skip_whitespace_and_trivia();
                        mentions |= is_word_start(self.peek(0)) || self.peek(0) == b'$';
                    }
                    continue;
                }
                _ => {}
            }
            self.bump();
        }
        mentions
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

/// Which bytes continue a word: letters, digits, `_`, and any byte of a non-ASCII character.
const WORD_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80;
        b += 1;
    }
    table
};

/// What a byte may start inside a braced item's body (see [`Cursor::skip_to_brace`]).
#[derive(Clone, Copy)]
enum ByteClass {
    Brace,
    /// `/`, `"`, `'`: maybe a comment, a string, a char literal or a lifetime.
    Trivia,
    /// A word, or a raw or byte string (`r"…"`, `b'…'`).
    WordStart,
    Inert,
}

const BYTE_CLASS: [ByteClass; 256] = {
    let mut classes = [ByteClass::Inert; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        classes[b] = match byte {
            b'{' | b'}' => ByteClass::Brace,
            b'/' | b'"' | b'\'' => ByteClass::Trivia,
            _ if byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80 => ByteClass::WordStart,
            _ => ByteClass::Inert,
        };
        b += 1;
    }
    classes
};

/// Whether `b` may start a comment, a literal, a word or a delimiter that [`outline`] tracks.
fn starts_something(b: u8) -> bool {
    matches!(b, b'/' | b'"' | b'\'' | b'{' | b'}' | b';' | b'#') || is_word_start(b)
}

/// The attribute body's path, e.g. `workflow` or `lunora_runtime :: step`.
fn attribute_path(body: &str) -> &str {
    let end = body
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '#' || c.is_whitespace()))
        .unwrap_or(body.len());
    body[..end].trim()
}

fn simple_path(text: &str) -> SimplePath {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (leading_colon, rest) = match compact.strip_prefix("::") {
        Some(rest) => (true, rest),
        None => (false, compact.as_str()),
    };
    SimplePath { leading_colon, segments: rest.split("::").map(str::to_owned).collect() }
}

/// The attributes rustc itself defines that may sit on a fn: never lunora's.
const BUILT_IN: &[&str] = &[
    "allow",
    "automatically_derived",
    "cfg",
    "cfg_attr",
    "cold",
    "deny",
    "deprecated",
    "derive",
    "doc",
    "expect",
    "export_name",
    "forbid",
    "ignore",
    "inline",
    "link_name",
    "link_section",
    "must_use",
    "no_mangle",
    "path",
    "should_panic",
    "target_feature",
    "test",
    "track_caller",
    "warn",
];

/// The attribute's path if it may be lunora's: its last segment is `workflow` or `step`
/// (`#[lunora_runtime::step]`, `#[cucumber::step]`: the scanner resolves which), or it is a
/// single name rustc does not define, which a `use … as` may make lunora's (`#[wf]`).
fn candidate(body: &str) -> Option<SimplePath> {
    let text = attribute_path(body);
    if !text.contains(':') && BUILT_IN.contains(&text) {
        return None;
    }
    let path = simple_path(text);
    let last = path.last();
    let lunora_name = AttributeKind::of(last).is_some();
    (!last.is_empty() && (lunora_name || path.segments.len() == 1 && !path.leading_colon)).then_some(path)
}

/// `cfg(…)` → the predicate.
fn cfg_predicate(body: &str) -> Option<String> {
    let rest = body.trim().strip_prefix("cfg")?.trim_start().strip_prefix('(')?;
    Some(rest.trim_end().strip_suffix(')')?.trim().to_owned())
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

/// `cfg_attr(predicate, a, b…)` applying an attribute whose name is lunora's (`workflow`,
/// `step`, under any path): that attribute's path as written.
fn conditional_lunora_attribute(body: &str) -> Option<String> {
    let inner = body.trim().strip_prefix("cfg_attr")?.trim_start().strip_prefix('(')?;
    let inner = inner.trim_end().strip_suffix(')')?;
    // The predicate and the attributes are separated by commas outside any brackets.
    let mut depth = 0usize;
    let mut parts = Vec::new();
    let mut from = 0;
    for (i, ch) in inner.char_indices() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&inner[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[from..]);
    parts.into_iter().skip(1).map(attribute_path).find_map(|text| {
        let path = simple_path(text);
        AttributeKind::of(path.last()).is_some().then(|| text.split_whitespace().collect())
    })
}

/// `path = "…"` → the path.
fn path_value(body: &str) -> Option<String> {
    let rest = body.trim().strip_prefix("path")?.trim_start().strip_prefix('=')?.trim();
    syn::parse_str::<syn::LitStr>(rest).ok().map(|s| s.value())
}

/// `text`'s words joined by single spaces (`pub(crate)`, `pub (in a)`), allocating only when
/// there are some.
fn spaced(text: &str) -> String {
    let text = text.trim();
    if !text.contains(char::is_whitespace) {
        return text.to_owned();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `text` (what comes before an item's keyword) is a visibility or nothing.
fn is_visibility(text: &str) -> bool {
    let text = text.trim();
    text.is_empty()
        || text.strip_prefix("pub").is_some_and(|rest| {
            let rest = rest.trim();
            rest.is_empty() || (rest.starts_with('(') && rest.ends_with(')'))
        })
}

/// The attributes read since the last item ended, for the item they belong to.
#[derive(Default)]
struct Attributes {
    path: Option<String>,
    rustfmt_skip: bool,
    cfgs: Vec<String>,
    candidates: Vec<SimplePath>,
    /// Where the first candidate starts: byte position, line, column.
    first_candidate: Option<(usize, usize, usize)>,
}

/// The keywords the outline acts on.
enum Word {
    Mod,
    Use,
    Extern,
    Fn,
    MacroRules,
    Other,
}

impl Word {
    fn of(word: &[u8]) -> Self {
        match word {
            b"mod" => Word::Mod,
            b"use" => Word::Use,
            b"extern" => Word::Extern,
            b"fn" => Word::Fn,
            b"macro_rules" => Word::MacroRules,
            _ => Word::Other,
        }
    }
}

/// Outlines `source`.
pub fn outline(source: &str) -> Vec<Entry> {
    let mut c = Cursor { src: source.as_bytes(), pos: 0, line: 1, line_start: 0, counted: 0 };
    let mut entries = Vec::new();
    let mut depth = 0usize;
    // Brace depths at which module bodies are open; items are only read at these depths.
    let mut modules: Vec<usize> = vec![0];
    let mut attributes = Attributes::default();
    // Where the current item's first word is (after its attributes), for a module's visibility.
    let mut item_start: Option<usize> = None;
    while !c.done() {
        if modules.last() != Some(&depth) {
            c.skip_to_brace();
            if c.done() {
                break;
            }
        }
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
                (attributes, item_start) = (Attributes::default(), None);
                c.bump();
            }
            b'}' => {
                // The brace closing an inline module's body is the one at that body's depth;
                // any other closes an item inside it (a struct, an impl, a fn body…).
                if modules.len() > 1 && modules.last() == Some(&depth) {
                    modules.pop();
                    entries.push(Entry::EndModule);
                }
                depth = depth.saturating_sub(1);
                (attributes, item_start) = (Attributes::default(), None);
                c.bump();
            }
            b';' => {
                (attributes, item_start) = (Attributes::default(), None);
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
                if inner {
                    entries.extend(cfg_predicate(body).map(Entry::ModuleCfg));
                } else if let Some(path) = path_value(body) {
                    // rustc takes the first `#[path]`.
                    attributes.path.get_or_insert(path);
                } else if is_rustfmt_skip(body) {
                    attributes.rustfmt_skip = true;
                } else if let Some(predicate) = cfg_predicate(body) {
                    attributes.cfgs.push(predicate);
                } else if let Some(path) = candidate(body) {
                    attributes.first_candidate.get_or_insert((start, line, column));
                    attributes.candidates.push(path);
                } else if let Some(name) = conditional_lunora_attribute(body) {
                    entries.push(Entry::ConditionalAttribute { name, line, column });
                }
            }
            _ if is_word_start(b) => {
                let word_start = c.pos;
                // Compared in place: most words are in fn bodies and are never kept.
                let word = Word::of(c.word());
                let word_end = c.pos;
                if !at_module_level {
                    continue;
                }
                let start = *item_start.get_or_insert(word_start);
                let before = &source[start..word_start];
                match word {
                    Word::Mod => {
                        let visibility = spaced(before);
                        c.skip_whitespace_and_trivia();
                        let (line, column) = c.line_column();
                        let name = std::str::from_utf8(c.word()).unwrap_or("").to_owned();
                        c.skip_whitespace_and_trivia();
                        let inline = match c.peek(0) {
                            b';' if !name.is_empty() => false,
                            b'{' if !name.is_empty() => true,
                            _ => continue,
                        };
                        let Attributes { path, rustfmt_skip, cfgs, .. } = std::mem::take(&mut attributes);
                        entries.push(Entry::Module {
                            name,
                            inline,
                            path,
                            rustfmt_skip,
                            visibility,
                            cfgs,
                            line,
                            column,
                        });
                        if inline {
                            item_start = None;
                            depth += 1;
                            modules.push(depth);
                            c.bump();
                        }
                    }
                    Word::Use if is_visibility(before) => {
                        let start = c.pos;
                        let end = c.statement_end();
                        entries.push(Entry::Use(parse_use(&source[start..end])));
                    }
                    Word::Extern if is_visibility(before) => {
                        c.skip_whitespace_and_trivia();
                        if c.word() == b"crate" {
                            let start = c.pos;
                            let end = c.statement_end();
                            entries.extend(parse_extern_crate(&source[start..end]).map(|i| Entry::Use(vec![i])));
                        }
                    }
                    Word::Fn => {
                        if let Some((first, line, column)) = attributes.first_candidate {
                            if let Some(end) = signature_end(&mut c) {
                                let text = format!("{}{{}}", &source[first..end]);
                                let Attributes { candidates, cfgs, .. } = std::mem::take(&mut attributes);
                                entries.push(Entry::Item { text, line, column, attributes: candidates, cfgs });
                            }
                        }
                    }
                    Word::MacroRules if c.bang_ahead() => {
                        c.skip_whitespace_and_trivia();
                        let name = format!("macro_rules! {}", std::str::from_utf8(c.word()).unwrap_or(""));
                        c.skip_whitespace_and_trivia();
                        macro_group(&mut c, source, name, start, &mut entries);
                        (attributes, item_start) = (Attributes::default(), None);
                    }
                    // `name!(…)`, `path::name! { … }`: a macro invocation.
                    Word::Other if c.bang_ahead() && matches!(c.peek(0), b'(' | b'[' | b'{') => {
                        let name: String = source[start..word_end].split_whitespace().collect();
                        macro_group(&mut c, source, name, start, &mut entries);
                        (attributes, item_start) = (Attributes::default(), None);
                    }
                    _ => {}
                }
            }
            _ => c.bump(),
        }
    }
    entries
}

/// At a macro's opening delimiter: skips its tokens, and records it if they hold a `mod` item
/// or a `#[workflow]`/`#[step]`-like attribute.
fn macro_group(c: &mut Cursor<'_>, source: &str, name: String, start: usize, entries: &mut Vec<Entry>) {
    if !matches!(c.peek(0), b'(' | b'[' | b'{') {
        return;
    }
    let (line, column) = c.line_column_at(start);
    if c.skip_group_mentioning_modules(source) {
        entries.push(Entry::Macro { name, line, column });
    }
}

/// From the `fn` keyword of an item with candidate attributes: the position of its body's
/// `{`, or `None` if it has none (a `;` comes first). The cursor is left on that brace or
/// semicolon, so the body is then tracked as depth.
fn signature_end(c: &mut Cursor<'_>) -> Option<usize> {
    let mut nesting = 0usize; // () [] do not contain the body
    while !c.done() {
        if c.skip_trivia() {
            continue;
        }
        match c.peek(0) {
            b'(' | b'[' => nesting += 1,
            b')' | b']' => nesting = nesting.saturating_sub(1),
            b'{' if nesting == 0 => return Some(c.pos),
            b';' if nesting == 0 => return None,
            b if is_word_start(b) => {
                c.word();
                continue;
            }
            _ => {}
        }
        c.bump();
    }
    None
}

/// The tokens of a `use` tree: enough to read its paths.
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Ident(&'a str),
    Colons,
    Open,
    Close,
    Comma,
    Star,
    Other,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied()) {
            (b'/', Some(b'/')) => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            (b':', Some(b':')) => {
                out.push(Token::Colons);
                i += 2;
            }
            (b'{', _) | (b'}', _) | (b',', _) | (b'*', _) => {
                out.push(match b[i] {
                    b'{' => Token::Open,
                    b'}' => Token::Close,
                    b',' => Token::Comma,
                    _ => Token::Star,
                });
                i += 1;
            }
            (c, next) if is_word_start(c) => {
                let start = i;
                if c == b'r' && next == Some(b'#') {
                    i += 2;
                }
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                    i += 1;
                }
                out.push(Token::Ident(&text[start..i]));
            }
            (c, _) if c.is_ascii_whitespace() => i += 1,
            _ => {
                out.push(Token::Other);
                i += 1;
            }
        }
    }
    out
}

/// The imports of a `use` item, from its text after `use` (without the `;`).
fn parse_use(text: &str) -> Vec<Import> {
    let tokens = tokens(text);
    let mut imports = Vec::new();
    use_tree(&tokens, &mut 0, false, &mut Vec::new(), &mut imports);
    imports
}

/// One use tree at `at`, under `prefix` (the segments of the enclosing trees, borrowed from the
/// text: most imports are not kept, so only those that are get owned strings).
fn use_tree<'a>(
    tokens: &[Token<'a>],
    at: &mut usize,
    mut leading_colon: bool,
    prefix: &mut Vec<&'a str>,
    out: &mut Vec<Import>,
) {
    let depth = prefix.len();
    if tokens.get(*at) == Some(&Token::Colons) {
        leading_colon |= prefix.is_empty();
        *at += 1;
    }
    let path =
        |segments: &[&str]| SimplePath { leading_colon, segments: segments.iter().map(|s| (*s).to_owned()).collect() };
    loop {
        match tokens.get(*at) {
            Some(Token::Star) => {
                *at += 1;
                out.push(Import::Glob(path(prefix)));
            }
            Some(Token::Open) => {
                *at += 1;
                loop {
                    match tokens.get(*at) {
                        None => break,
                        Some(Token::Close) => {
                            *at += 1;
                            break;
                        }
                        Some(Token::Comma) => *at += 1,
                        Some(_) => {
                            let before = *at;
                            use_tree(tokens, at, leading_colon, prefix, out);
                            if *at == before {
                                *at += 1;
                            }
                        }
                    }
                }
            }
            Some(Token::Ident(ident)) => {
                *at += 1;
                if tokens.get(*at) == Some(&Token::Colons) {
                    *at += 1;
                    prefix.push(ident);
                    continue;
                }
                // `self` in a list names the prefix itself.
                if *ident != "self" {
                    prefix.push(ident);
                }
                let mut name = prefix.last().copied().unwrap_or_default();
                if tokens.get(*at) == Some(&Token::Ident("as")) {
                    if let Some(Token::Ident(alias)) = tokens.get(*at + 1) {
                        name = alias;
                        *at += 2;
                    }
                }
                // `as _` brings in no name; and most imports (types, traits, fns) cannot lead
                // to a lunora attribute, which saves keeping them.
                if name != "_" && !name.is_empty() && may_lead_to_an_attribute(name, prefix) {
                    out.push(Import::Named { name: name.to_owned(), target: path(prefix) });
                }
            }
            _ => {}
        }
        break;
    }
    prefix.truncate(depth);
}

/// Whether `use target as name` may take part in resolving an attribute: it names or brings
/// a `workflow`/`step`, names a crate (`use lunora_runtime as lr;`) or a local path
/// (`crate::…`, `self::…`, `super::…`), which may re-export one.
fn may_lead_to_an_attribute(name: &str, target: &[&str]) -> bool {
    let lunora_name = |s: &str| AttributeKind::of(unraw(s)).is_some();
    lunora_name(name)
        || target.last().is_some_and(|last| lunora_name(last))
        || target.len() == 1
        || target.first().is_some_and(|s| matches!(*s, "crate" | "self" | "super"))
}

/// `extern crate foo as bar` (text after `crate`) → `bar` names `::foo`.
fn parse_extern_crate(text: &str) -> Option<Import> {
    let tokens = tokens(text);
    let Some(Token::Ident(krate)) = tokens.first() else { return None };
    let name = match (tokens.get(1), tokens.get(2)) {
        (Some(Token::Ident("as")), Some(Token::Ident(alias))) => *alias,
        _ => *krate,
    };
    let target = if *krate == "self" {
        SimplePath { leading_colon: false, segments: vec!["crate".into()] }
    } else {
        SimplePath { leading_colon: true, segments: vec![(*krate).to_owned()] }
    };
    (name != "_").then(|| Import::Named { name: name.to_owned(), target })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> SimplePath {
        simple_path(text)
    }

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
                    cfgs: vec![],
                    line: 9,
                    column: 9
                },
                Entry::Module {
                    name: "inline".into(),
                    inline: true,
                    path: None,
                    rustfmt_skip: false,
                    visibility: "pub(crate)".into(),
                    cfgs: vec![],
                    line: 10,
                    column: 16
                },
                Entry::Item {
                    text: "#[lunora_runtime::step(args = A, returns = B)]\n    pub async fn charge(ctx: StepContext, args: A) -> Result<B> where A: Clone {}".into(),
                    line: 12,
                    column: 5,
                    attributes: vec![path("lunora_runtime::step")],
                    cfgs: vec![],
                },
                Entry::EndModule,
                Entry::Item {
                    text: "#[workflow(name = \"x\")]\nasync fn flow(ctx: WorkflowContext<()>) -> Result<()> {}".into(),
                    line: 15,
                    column: 1,
                    attributes: vec![path("workflow")],
                    cfgs: vec![],
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

    fn summary(source: &str) -> Vec<String> {
        outline(source)
            .into_iter()
            .map(|e| match e {
                Entry::Module { name, inline, cfgs, .. } => {
                    format!("mod {name}{} {cfgs:?}", if inline { " {" } else { ";" })
                }
                Entry::EndModule => "}".into(),
                Entry::ModuleCfg(p) => format!("#![cfg({p})]"),
                Entry::Use(imports) => format!("use {imports:?}"),
                Entry::Item { attributes, cfgs, line, .. } => {
                    let attributes: Vec<String> = attributes.iter().map(|a| a.to_string()).collect();
                    format!("item {attributes:?} {cfgs:?} line {line}")
                }
                Entry::Macro { name, line, column } => format!("macro {name} {line}:{column}"),
                Entry::ConditionalAttribute { name, line, column } => format!("cfg_attr {name} {line}:{column}"),
            })
            .collect()
    }

    #[test]
    fn braced_items_inside_an_inline_module_do_not_end_it() {
        let source = r#"mod outer {
    struct S { a: u8 }
    impl S { fn f(&self) { if true { } } }
    trait T { fn g(); }
    const C: u8 = { 1 + { 2 } };
    extern "C" { fn ext(); }
    macro_rules! m { () => { mod not_here; } }
    mod nested { enum E { A { x: u8 } } #[workflow] async fn deep() {} }
    #[workflow] async fn after() {}
    mod y;
}
#[step] async fn top() {}
"#;
        assert_eq!(
            summary(source),
            [
                "mod outer { []",
                "macro macro_rules! m 7:5",
                "mod nested { []",
                "item [\"workflow\"] [] line 8",
                "}",
                "item [\"workflow\"] [] line 9",
                "mod y; []",
                "}",
                "item [\"step\"] [] line 12",
            ]
        );
    }

    /// Bodies are skipped without the outline's per-byte dispatch: braces in comments, strings,
    /// raw and byte strings and char literals must still not count, and lifetimes are not chars.
    #[test]
    fn braces_hidden_in_bodies_do_not_count() {
        let source = r##"mod outer {
    fn f<'a>(x: &'a str) -> char { let _ = "}"; let _ = '}'; let _ = b'{'; '{' }
    fn g() { let _ = r#"}"}"#; let _ = br"{"; let _ = c"}"; let _ = cr#"{"#; /* } /* { */ } */ }
    fn h() { // }
        let r#match = 1; let br = 2; let _ = r#match + br; let _ = "\"}"; let _ = '\'';
        let _ = '\u{7d}'; let _: &'static str = "{"; b'\''; 1u8; 'x'
    }
    impl S { fn i(&self) { if x { "{" } else { '}' }; } }
    #[workflow] async fn after() {}
}
#[step] async fn top() {}
"##;
        assert_eq!(
            summary(source),
            ["mod outer { []", "item [\"workflow\"] [] line 9", "}", "item [\"step\"] [] line 11"]
        );
    }

    #[test]
    fn uses_cfgs_and_candidate_attributes_are_read() {
        let source = r#"#![cfg(feature = "outer")]
use lunora_runtime::{workflow as wf, step, self};
pub(crate) use ::lunora_macros::*;
extern crate lunora_runtime as lr;
use a::{b::{step, d as _, Kept as Not}, e::*};
#[cfg(test)]
#[path = "t.rs"]
#[path = "ignored.rs"]
mod tests;
#[cfg(feature = "x")] #[inline] #[wf] #[tracing::instrument] #[cucumber::step]
pub async fn f() {}
#[derive(Debug)] #[test] fn not_a_candidate() {}
fn g() -> impl Sized + use<> {}
"#;
        let s = summary(source);
        assert_eq!(s[0], "#![cfg(feature = \"outer\")]");
        assert_eq!(
            s[1],
            "use [Named { name: \"wf\", target: SimplePath { leading_colon: false, segments: [\"lunora_runtime\", \"workflow\"] } }, \
             Named { name: \"step\", target: SimplePath { leading_colon: false, segments: [\"lunora_runtime\", \"step\"] } }, \
             Named { name: \"lunora_runtime\", target: SimplePath { leading_colon: false, segments: [\"lunora_runtime\"] } }]"
        );
        assert_eq!(s[2], "use [Glob(SimplePath { leading_colon: true, segments: [\"lunora_macros\"] })]");
        assert_eq!(
            s[3],
            "use [Named { name: \"lr\", target: SimplePath { leading_colon: true, segments: [\"lunora_runtime\"] } }]"
        );
        assert_eq!(
            s[4],
            "use [Named { name: \"step\", target: SimplePath { leading_colon: false, segments: [\"a\", \"b\", \"step\"] } }, \
             Glob(SimplePath { leading_colon: false, segments: [\"a\", \"e\"] })]"
        );
        assert_eq!(s[5], "mod tests; [\"test\"]");
        assert_eq!(s[6], "item [\"wf\", \"cucumber::step\"] [\"feature = \\\"x\\\"\"] line 10");
        assert_eq!(s.len(), 7, "{s:?}");
        let Entry::Module { path, .. } = &outline(source)[5] else { panic!() };
        assert_eq!(path.as_deref(), Some("t.rs"), "rustc takes the first #[path]");
    }

    #[test]
    fn macros_that_may_hide_modules_or_workflows_are_reported_and_skipped() {
        let source = r#"cfg_if::cfg_if! {
    if #[cfg(x)] { mod hidden; }
}
lazy_static!( static ref X: u8 = 1; );
m!(#[workflow] async fn w() {});
gen! [mod $name {}];
fn f() { inner!(mod no); }
"#;
        assert_eq!(summary(source), ["macro cfg_if::cfg_if 1:1", "macro m 5:1", "macro gen 6:1"]);
    }

    #[test]
    fn raw_identifiers_keep_their_r_hash() {
        assert_eq!(
            summary("mod r#async;\npub mod r#type { #[step] async fn r#fn() {} }"),
            ["mod r#async; []", "mod r#type { []", "item [\"step\"] [] line 2", "}"]
        );
    }
}
