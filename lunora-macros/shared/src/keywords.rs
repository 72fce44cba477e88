//! Rust's keywords, for the names lunora derives or scaffolds (which must not be one) and for
//! the macros' fast parser (which must leave keywords to syn); and JavaScript's reserved words,
//! which a class the JS entry module declares must not be.

/// Rust's strict and reserved keywords, all editions (`gen` is reserved from 2024). None can
/// name a fn without `r#`, and `self`, `Self`, `super` and `crate` cannot even be raw.
pub const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super",
    "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Weak keywords that may start an item or an expression other than a path (`union Foo { … }`,
/// `safe fn` in an `unsafe extern` block): they are identifiers elsewhere, so they may name a
/// fn, but a parser that reads a path where they stand may misread the source.
pub const WEAK_KEYWORDS: &[&str] = &["union", "safe"];

/// Whether `word` is a strict or reserved keyword (see [`RUST_KEYWORDS`]).
pub fn is_keyword(word: &str) -> bool {
    RUST_KEYWORDS.contains(&word)
}

/// The words JavaScript module code (always strict) does not accept as a class's name: the
/// reserved words of ECMAScript 2015 and later, the strict-mode ones (`let`, `static`,
/// `implements`, …), `await` (reserved in modules), and `eval` / `arguments`, which strict code
/// cannot bind.
pub const JS_RESERVED_WORDS: &[&str] = &[
    "await",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "yield",
    "let",
    "static",
    "implements",
    "interface",
    "package",
    "private",
    "protected",
    "public",
    "eval",
    "arguments",
];

/// Whether `word` is one of [`JS_RESERVED_WORDS`].
pub fn is_js_reserved(word: &str) -> bool {
    JS_RESERVED_WORDS.contains(&word)
}
