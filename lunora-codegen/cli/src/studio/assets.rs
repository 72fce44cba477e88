//! The page, embedded in the binary: no CDN, works offline. Plain HTML, CSS and JavaScript;
//! the script writes every server string with `textContent` (never as HTML).

/// The page; `{{STUDIO_TOKEN}}` is replaced with the per-process action token.
pub const PAGE: &str = include_str!("page/index.html");
pub const SCRIPT: &str = include_str!("page/studio.js");
pub const STYLE: &str = include_str!("page/studio.css");
