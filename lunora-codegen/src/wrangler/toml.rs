//! `wrangler.toml`: parse with `toml_edit` (keeping byte spans), then splice the few changes into
//! the source text, so that every byte we do not own stays as it was.

use std::ops::Range;

use toml_edit::{Array, ArrayOfTables, Document, InlineTable, Item, Table, TableLike, Value};

use super::driver::{self, internal, RawEntry, RawField, RawValue, Syntax};
use super::{newline_of, quoted, split_bom, string_array, ConfigError, EntryPlan, Plan, ReconcileOptions, Reconciled};
use crate::spec::WorkflowSpec;

/// Reconciles the top-level `[[workflows]]` of a `wrangler.toml` with the scanned workflows.
/// See the [module docs](super) for the rules.
pub fn reconcile_toml(
    source: &str,
    workflows: &[WorkflowSpec],
    opts: &ReconcileOptions<'_>,
) -> Result<Reconciled, ConfigError> {
    ParsedToml::parse(source)?.reconcile(workflows, opts)
}

/// A `wrangler.toml`, parsed: most of a reconciliation's time, and independent of the
/// workflows, so it can be done while they are being scanned.
pub struct ParsedToml<'s> {
    source: &'s str,
    doc: Document<&'s str>,
}

impl<'s> ParsedToml<'s> {
    /// Parses `source` (after a byte order mark, as [`reconcile_toml`] does).
    pub fn parse(source: &'s str) -> Result<Self, ConfigError> {
        let (_, src) = split_bom(source);
        let doc = Document::parse(src).map_err(|e| parse_error(src, &e))?;
        Ok(ParsedToml { source, doc })
    }

    /// [`reconcile_toml`] on the parsed text.
    pub fn reconcile(
        &self,
        workflows: &[WorkflowSpec],
        opts: &ReconcileOptions<'_>,
    ) -> Result<Reconciled, ConfigError> {
        let (_, src) = split_bom(self.source);
        let root = self.doc.as_table();
        let section = Section::of(src, root)?;
        let entries = section.entries(src)?;
        driver::reconcile(self.source, &TomlConfig { src, root, section, entries }, workflows, opts)
    }
}

/// A parsed `wrangler.toml` with its `workflows` entries found. Edits are spliced into the
/// source text at the byte spans `toml_edit` reports.
struct TomlConfig<'d> {
    src: &'d str,
    root: &'d Table,
    section: Section<'d>,
    entries: Vec<Entry<'d>>,
}

impl TomlConfig<'_> {
    fn main_string(&self) -> Option<&toml_edit::Formatted<String>> {
        match self.root.get("main") {
            Some(Item::Value(Value::String(main))) => Some(main),
            _ => None,
        }
    }
}

impl Syntax for TomlConfig<'_> {
    const FILE: &'static str = "wrangler.toml";
    const LIMITS_SHAPE: &'static str = "`limits` must be a table, e.g. `limits = { steps = 1000 }`";

    fn main(&self) -> Option<&str> {
        self.main_string().map(|main| main.value().as_str())
    }

    fn entry_count(&self) -> usize {
        self.entries.len()
    }

    fn entry(&self, index: usize) -> Result<RawEntry, ConfigError> {
        let entry = &self.entries[index];
        let start = entry.start();
        Ok(RawEntry { start, fields: fields(entry.table_like(), start, true) })
    }

    fn rewrite(&self, main_to: Option<&str>, plan: &Plan<'_>) -> Result<String, ConfigError> {
        let src = self.src;
        let nl = newline_of(src);
        let mut edits = Edits::default();
        if let Some(to) = main_to {
            let main = self.main_string().ok_or_else(|| internal("`main` vanished"))?;
            edits.replace(span(main.span())?, quoted(to));
        }
        for (entry, p) in self.entries.iter().zip(&plan.entries) {
            if let Some(p) = p.as_ref().filter(|p| !p.is_empty()) {
                entry.apply(src, nl, p, &mut edits)?;
            }
        }
        if !plan.append.is_empty() {
            self.section.append(src, nl, self.root, &plan.append, &mut edits)?;
        }
        edits.apply(src)
    }

    fn parse_problem(body: &str) -> Option<String> {
        Document::parse(body).err().map(|e| e.message().to_owned())
    }
}

/// The keys of a table; with `tables`, tables become [`RawValue::Table`] (one level deep: an
/// entry's `limits`). `fallback` is where a value without a position is said to be.
fn fields(t: &dyn TableLike, fallback: usize, tables: bool) -> Vec<RawField> {
    t.iter()
        .map(|(key, item)| RawField {
            key: key.to_owned(),
            at: item_start(item, fallback),
            written: item.span(),
            value: raw_value(item, fallback, tables),
        })
        .collect()
}

fn raw_value(item: &Item, fallback: usize, tables: bool) -> RawValue {
    match item {
        Item::Value(value) => raw(value, fallback, tables),
        item if tables => match item.as_table_like() {
            Some(t) => RawValue::Table(Ok(fields(t, fallback, false))),
            None => RawValue::Other,
        },
        _ => RawValue::Other,
    }
}

fn raw(value: &Value, fallback: usize, tables: bool) -> RawValue {
    match value {
        Value::String(s) => RawValue::String(s.value().clone()),
        Value::Integer(i) => RawValue::Integer(*i.value()),
        Value::Array(a) if tables => RawValue::Array(a.iter().map(|v| raw(v, fallback, false)).collect()),
        Value::InlineTable(t) if tables => RawValue::Table(Ok(fields(t, fallback, false))),
        _ => RawValue::Other,
    }
}

fn parse_error(src: &str, e: &toml_edit::TomlError) -> ConfigError {
    let at = e.span().map_or(src.len(), |s| s.start);
    ConfigError::at(src, at, e.message())
}

fn span(span: Option<Range<usize>>) -> Result<Range<usize>, ConfigError> {
    span.ok_or_else(|| internal("a parsed TOML item has no position"))
}

/// The top-level `workflows` key.
enum Section<'d> {
    Absent,
    /// `[[workflows]]` tables.
    Tables(&'d ArrayOfTables),
    /// `workflows = [{ … }, …]`.
    Inline(&'d Array),
}

/// One entry of the top-level `workflows`.
enum Entry<'d> {
    Table(&'d Table),
    Inline(&'d InlineTable),
}

const NOT_AN_ARRAY: &str = "`workflows` must be an array of tables (`[[workflows]]`)";

impl<'d> Section<'d> {
    fn of(src: &str, root: &'d Table) -> Result<Self, ConfigError> {
        match root.get("workflows") {
            None => Ok(Section::Absent),
            Some(Item::ArrayOfTables(aot)) => Ok(Section::Tables(aot)),
            Some(Item::Value(Value::Array(array))) => Ok(Section::Inline(array)),
            Some(other) => {
                let at = other.span().or_else(|| root.key("workflows").and_then(|k| k.span()));
                Err(ConfigError::at(src, at.map_or(0, |s| s.start), NOT_AN_ARRAY))
            }
        }
    }

    fn entries(&self, src: &str) -> Result<Vec<Entry<'d>>, ConfigError> {
        match self {
            Section::Absent => Ok(Vec::new()),
            Section::Tables(aot) => Ok(aot.iter().map(Entry::Table).collect()),
            Section::Inline(array) => array
                .iter()
                .map(|value| match value {
                    Value::InlineTable(t) => Ok(Entry::Inline(t)),
                    other => Err(ConfigError::at(
                        src,
                        other.span().map_or(0, |s| s.start),
                        "each `workflows` entry must be a table",
                    )),
                })
                .collect(),
        }
    }

    /// Appends entries for `specs`: after the last top-level `[[workflows]]` entry; without one,
    /// before the first `[env.*]` section (so they do not look like part of it), or at the end.
    fn append(
        &self,
        src: &str,
        nl: &str,
        root: &Table,
        specs: &[&WorkflowSpec],
        edits: &mut Edits,
    ) -> Result<(), ConfigError> {
        match self {
            Section::Inline(array) => append_inline(src, nl, array, specs, edits),
            Section::Tables(aot) => {
                let end = aot.iter().map(table_end).max().unwrap_or(0);
                let (at, _) = line_end(src, end);
                append_tables(src, nl, at, specs, edits);
                Ok(())
            }
            Section::Absent => {
                let at = root.get("env").and_then(first_header).unwrap_or(src.len());
                append_tables(src, nl, at, specs, edits);
                Ok(())
            }
        }
    }
}

impl Entry<'_> {
    fn table_like(&self) -> &dyn TableLike {
        match self {
            Entry::Table(t) => *t,
            Entry::Inline(t) => *t,
        }
    }

    fn start(&self) -> usize {
        match self {
            Entry::Table(t) => t.span(),
            Entry::Inline(t) => t.span(),
        }
        .map_or(0, |s| s.start)
    }

    fn apply(&self, src: &str, nl: &str, p: &EntryPlan<'_>, edits: &mut Edits) -> Result<(), ConfigError> {
        let t = self.table_like();
        let spec = p.spec;
        // `key = value` pairs to add to the entry itself.
        let mut add: Vec<String> = Vec::new();
        if p.fill_name {
            add.push(format!("name = {}", quoted(&spec.deployed_name)));
        }
        if p.fill_binding {
            add.push(format!("binding = {}", quoted(&spec.binding)));
        }
        if p.set_schedules {
            let value = string_array(&spec.schedules);
            match t.get("schedules") {
                Some(item) => edits.replace(span(item.span())?, value),
                None => add.push(format!("schedules = {value}")),
            }
        }
        if let (true, Some(steps)) = (p.set_steps, spec.step_limit) {
            match t.get("limits") {
                None => add.push(format!("limits = {{ steps = {steps} }}")),
                Some(limits) => match limits.as_table_like().and_then(|l| l.get("steps")) {
                    Some(item) => edits.replace(span(item.span())?, steps.to_string()),
                    None => match limits {
                        Item::Table(l) if !l.is_dotted() && !l.is_implicit() => {
                            insert_in_table(src, nl, l, &[format!("steps = {steps}")], edits)?
                        }
                        Item::Value(Value::InlineTable(l)) if !l.is_dotted() => {
                            insert_in_inline(src, l, &[format!("steps = {steps}")], edits)?
                        }
                        // `limits.x = …` dotted keys, or a `limits` table only implied by a
                        // `[workflows.limits.x]` header.
                        _ => add.push(format!("limits.steps = {steps}")),
                    },
                },
            }
        }
        if !add.is_empty() {
            match self {
                Entry::Table(t) => insert_in_table(src, nl, t, &add, edits)?,
                Entry::Inline(t) => insert_in_inline(src, t, &add, edits)?,
            }
        }
        Ok(())
    }
}

fn item_start(item: &Item, fallback: usize) -> usize {
    item.span().map_or(fallback, |s| s.start)
}

// ---------------------------------------------------------------------------------------------
// Where to put things.

/// Adds `lines` to the body of a table with a `[header]`: after its last key/value line (or
/// after the header when it has none), indented like that line.
fn insert_in_table(src: &str, nl: &str, t: &Table, lines: &[String], edits: &mut Edits) -> Result<(), ConfigError> {
    let (anchor, indent) = match body_end(t) {
        Some((key_start, end)) => (end, line_indent(src, key_start)),
        None => {
            let header = span(t.span())?;
            (header.end, line_indent(src, header.start))
        }
    };
    let (at, at_eof) = line_end(src, anchor);
    let text: String = if at_eof {
        // The file ends on that line without a newline: keep it that way.
        lines.iter().map(|l| format!("{nl}{indent}{l}")).collect()
    } else {
        lines.iter().map(|l| format!("{indent}{l}{nl}")).collect()
    };
    edits.insert(at, text);
    Ok(())
}

/// Adds `pairs` (`key = value`) to an inline table, after its last value.
fn insert_in_inline(src: &str, t: &InlineTable, pairs: &[String], edits: &mut Edits) -> Result<(), ConfigError> {
    match inline_end(t) {
        Some(end) => edits.insert(end, pairs.iter().map(|p| format!(", {p}")).collect()),
        None => {
            let open = span(t.span())?.start + 1;
            let mut text = format!(" {}", pairs.join(", "));
            if src[open..].starts_with('}') {
                text.push(' ');
            }
            edits.insert(open, text);
        }
    }
    Ok(())
}

/// `(start of the key, end of the value)` of the key/value that ends last in the body of a
/// table (dotted keys included), `None` for an empty body.
fn body_end(t: &Table) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (key, item) in t.iter() {
        let end = match item {
            Item::Value(v) => v.span().map(|s| s.end),
            Item::Table(sub) if sub.is_dotted() => body_end(sub).map(|(_, end)| end),
            _ => None,
        };
        if let Some(end) = end {
            if best.is_none_or(|(_, e)| end > e) {
                let key_start = t.key(key).and_then(|k| k.span()).map_or(end, |s| s.start);
                best = Some((key_start, end));
            }
        }
    }
    best
}

/// End of the value that ends last in an inline table (dotted keys included).
fn inline_end(t: &InlineTable) -> Option<usize> {
    t.iter()
        .filter_map(|(_, v)| match v {
            Value::InlineTable(sub) if sub.is_dotted() => inline_end(sub),
            v => v.span().map(|s| s.end),
        })
        .max()
}

/// End of everything that belongs to a table: header, values, sub-tables wherever they are.
fn table_end(t: &Table) -> usize {
    let mut end = t.span().map_or(0, |s| s.end);
    for (key, item) in t.iter() {
        if let Some(k) = t.key(key).and_then(|k| k.span()) {
            end = end.max(k.end);
        }
        end = end.max(match item {
            Item::None => 0,
            Item::Value(v) => v.span().map_or(0, |s| s.end),
            Item::Table(sub) => table_end(sub),
            Item::ArrayOfTables(aot) => aot.iter().map(table_end).max().unwrap_or(0),
        });
    }
    end
}

/// Where the first `[header]` under `env` begins, comments and blank lines before it included.
fn first_header(env: &Item) -> Option<usize> {
    fn walk(item: &Item, out: &mut Vec<usize>) {
        let table = |t: &Table, out: &mut Vec<usize>| {
            if !t.is_implicit() && !t.is_dotted() {
                let prefix = t.decor().prefix().and_then(|p| p.span()).map(|s| s.start);
                if let Some(at) = prefix.or_else(|| t.span().map(|s| s.start)) {
                    out.push(at);
                }
            }
            for (_, child) in t.iter() {
                walk(child, out);
            }
        };
        match item {
            Item::Table(t) => table(t, out),
            Item::ArrayOfTables(aot) => aot.iter().for_each(|t| table(t, out)),
            Item::None | Item::Value(_) => {}
        }
    }
    let mut starts = Vec::new();
    walk(env, &mut starts);
    starts.into_iter().min()
}

/// Appends `[[workflows]]` tables at `at` (the start of a line, or the end of the file), set off
/// by blank lines.
fn append_tables(src: &str, nl: &str, at: usize, specs: &[&WorkflowSpec], edits: &mut Edits) {
    let (before, after) = src.split_at(at);
    let mut text = String::new();
    if !before.is_empty() {
        if !before.ends_with('\n') {
            text.push_str(nl);
            text.push_str(nl);
        } else if !ends_with_blank_line(before) {
            text.push_str(nl);
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        if i > 0 {
            text.push_str(nl);
        }
        text.push_str("[[workflows]]");
        text.push_str(nl);
        for (key, value) in entry_pairs(spec) {
            text.push_str(&format!("{key} = {value}{nl}"));
        }
    }
    if !after.is_empty() && !starts_with_blank_line(after) {
        text.push_str(nl);
    }
    edits.insert(at, text);
}

/// Appends inline tables to `workflows = [ … ]`, one per line when the array spans lines.
fn append_inline(
    src: &str,
    nl: &str,
    array: &Array,
    specs: &[&WorkflowSpec],
    edits: &mut Edits,
) -> Result<(), ConfigError> {
    let rendered: Vec<String> = specs
        .iter()
        .map(|spec| {
            let pairs: Vec<String> = entry_pairs(spec).into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{{ {} }}", pairs.join(", "))
        })
        .collect();
    let whole = span(array.span())?;
    let (Some(first), Some(last)) = (array.get(0), array.iter().last()) else {
        edits.insert(whole.start + 1, rendered.join(", "));
        return Ok(());
    };
    let first = span(first.span())?;
    let last = span(last.span())?;
    // What follows the last element on its line: maybe a comma, then maybe a comment.
    let rest = &src[last.end..];
    let rest_of_line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let after_blanks = rest_of_line.trim_start_matches([' ', '\t']);
    let trailing_comma = after_blanks.starts_with(',');
    let after_comma = if trailing_comma { &after_blanks[1..] } else { after_blanks };
    let line_is_done =
        after_comma.trim_matches([' ', '\t', '\r']).is_empty() || after_comma.trim_start().starts_with('#');
    let one_per_line = src[whole.start..first.start].contains('\n');
    if one_per_line && line_is_done && rest.contains('\n') {
        // One entry per line, after the last one's line (its comment stays with it), keeping
        // the file's choice about a trailing comma.
        if !trailing_comma {
            edits.insert(last.end, ",".to_owned());
        }
        let indent = line_indent(src, last.start);
        let n = rendered.len();
        let text: String = rendered
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{indent}{r}{}{nl}", if i + 1 < n || trailing_comma { "," } else { "" }))
            .collect();
        edits.insert(line_end(src, last.end).0, text);
    } else if one_per_line {
        let indent = line_indent(src, last.start);
        edits.insert(last.end, rendered.iter().map(|r| format!(",{nl}{indent}{r}")).collect());
    } else {
        edits.insert(last.end, rendered.iter().map(|r| format!(", {r}")).collect());
    }
    Ok(())
}

/// The keys of an appended entry, rendered.
fn entry_pairs(spec: &WorkflowSpec) -> Vec<(&'static str, String)> {
    let mut pairs = vec![
        ("name", quoted(&spec.deployed_name)),
        ("binding", quoted(&spec.binding)),
        ("class_name", quoted(&spec.class_name)),
    ];
    if !spec.schedules.is_empty() {
        pairs.push(("schedules", string_array(&spec.schedules)));
    }
    if let Some(steps) = spec.step_limit {
        pairs.push(("limits", format!("{{ steps = {steps} }}")));
    }
    pairs
}

/// The position after the end of the line containing `pos`, and whether that line is the last
/// one of a file that does not end with a newline (then the position is the end of the file).
fn line_end(src: &str, pos: usize) -> (usize, bool) {
    match src[pos..].find('\n') {
        Some(i) => (pos + i + 1, false),
        None => (src.len(), true),
    }
}

/// The spaces and tabs that start the line containing `pos`.
fn line_indent(src: &str, pos: usize) -> &str {
    let start = src[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = &src[start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// Whether `s` (ending with a newline) ends with a line that is empty or all blanks.
fn ends_with_blank_line(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let s = s.strip_suffix('\r').unwrap_or(s);
    let last = s.rfind('\n').map_or(s, |i| &s[i + 1..]);
    last.trim_matches([' ', '\t', '\r']).is_empty()
}

/// Whether the first line of `s` is empty or all blanks.
fn starts_with_blank_line(s: &str) -> bool {
    let first = s.find('\n').map_or(s, |i| &s[..i]);
    first.trim_matches([' ', '\t', '\r']).is_empty()
}

/// Replacements and insertions at byte positions of the source, applied in one pass.
#[derive(Default)]
struct Edits {
    list: Vec<(Range<usize>, String)>,
}

impl Edits {
    fn replace(&mut self, range: Range<usize>, text: String) {
        self.list.push((range, text));
    }

    fn insert(&mut self, at: usize, text: String) {
        self.list.push((at..at, text));
    }

    /// Edits at the same position apply in the order they were made.
    fn apply(mut self, src: &str) -> Result<String, ConfigError> {
        self.list.sort_by_key(|(range, _)| range.start);
        let mut out = String::with_capacity(src.len() + self.list.iter().map(|(_, t)| t.len()).sum::<usize>());
        let mut pos = 0;
        for (range, text) in &self.list {
            if range.start < pos || range.end > src.len() {
                return Err(internal("two edits of the wrangler.toml overlap"));
            }
            out.push_str(&src[pos..range.start]);
            out.push_str(text);
            pos = range.end;
        }
        out.push_str(&src[pos..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_line_detection() {
        assert!(ends_with_blank_line("a\n\n"));
        assert!(ends_with_blank_line("a\r\n\r\n"));
        assert!(ends_with_blank_line("a\n  \n"));
        assert!(ends_with_blank_line("\n"));
        assert!(!ends_with_blank_line("a\n"));
        assert!(!ends_with_blank_line("a\r\n"));
        assert!(starts_with_blank_line("\n[x]"));
        assert!(starts_with_blank_line("  \r\n[x]"));
        assert!(!starts_with_blank_line("# c\n[x]"));
    }

    #[test]
    fn edits_apply_in_order() {
        let mut e = Edits::default();
        e.insert(1, "X".into());
        e.replace(2..3, "YY".into());
        e.insert(1, "Z".into());
        assert_eq!(e.apply("abcd").unwrap(), "aXZbYYd");
    }

    #[test]
    fn indentation_and_line_ends() {
        let src = "a = 1\n  b = 2 # c\nlast";
        assert_eq!(line_indent(src, 9), "  ");
        assert_eq!(line_end(src, 12), (18, false));
        assert_eq!(line_end(src, 19), (22, true));
    }
}
