//! Reading a history file: every field checked by hand, so a refusal names the file and the
//! field (`o-1.json: steps[2].count: expected a whole number ≥ 1, found "x"`) and nothing panics.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use super::record::{AttemptRecord, History, RecordKind, RecordState, StepRecord, Trigger, FORMAT, FORMAT_VERSION};
use crate::error::Error;

/// The largest history file read (256 MiB): a history of the step limit's worth of large
/// outputs fits, a runaway file is refused before it is read into memory.
pub const MAX_HISTORY_BYTES: u64 = 256 << 20;

/// Why a history was refused: which file, which field, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryError {
    /// The file (or `<input>`).
    pub source: String,
    /// The field, e.g. `steps[2].count`; empty when the whole file is at fault.
    pub field: String,
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.field, self.message)
        }
    }
}

impl std::error::Error for HistoryError {}

pub(super) fn read(path: &Path) -> Result<History, HistoryError> {
    let source = path.display().to_string();
    let fail = |message: String| HistoryError { source: source.clone(), field: String::new(), message };
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
    let size = file.metadata().map_err(|e| fail(format!("cannot be read: {e}")))?.len();
    if size > MAX_HISTORY_BYTES {
        return Err(fail(format!(
            "is {size} bytes, more than the {MAX_HISTORY_BYTES} a history may have; is it a history file?"
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // `take` also bounds a file that grows while it is read.
    file.take(MAX_HISTORY_BYTES + 1).read_to_end(&mut bytes).map_err(|e| fail(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_HISTORY_BYTES {
        return Err(fail(format!("grew past {MAX_HISTORY_BYTES} bytes while it was read")));
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| fail(format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to())))?;
    parse(&text, &source)
}

pub(super) fn parse(text: &str, source: &str) -> Result<History, HistoryError> {
    let value: Value = serde_json::from_str(text).map_err(|e| HistoryError {
        source: source.to_owned(),
        field: String::new(),
        message: format!("is not valid JSON: {e}"),
    })?;
    Reader { source }.history(&value)
}

struct Reader<'a> {
    source: &'a str,
}

/// What a value is, for messages: `a string "x"`, `a number 7`, `null`…
fn describe(value: &Value) -> String {
    let mut shown = value.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "…";
    }
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => format!("a boolean {shown}"),
        Value::Number(_) => format!("a number {shown}"),
        Value::String(_) => format!("a string {shown}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl Reader<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> HistoryError {
        HistoryError { source: self.source.to_owned(), field: field.to_owned(), message: message.into() }
    }

    fn object<'v>(&self, value: &'v Value, field: &str) -> Result<&'v Map<String, Value>, HistoryError> {
        value.as_object().ok_or_else(|| self.err(field, format!("expected an object, found {}", describe(value))))
    }

    fn required<'v>(&self, map: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v Value, HistoryError> {
        map.get(key).ok_or_else(|| self.err(&join(at, key), "is missing"))
    }

    fn string(&self, map: &Map<String, Value>, key: &str, at: &str) -> Result<String, HistoryError> {
        match self.required(map, key, at)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.err(&join(at, key), format!("expected a string, found {}", describe(other)))),
        }
    }

    fn opt_string(&self, map: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, HistoryError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => {
                Err(self.err(&join(at, key), format!("expected a string or null, found {}", describe(other))))
            }
        }
    }

    fn opt_time(&self, map: &Map<String, Value>, key: &str, at: &str) -> Result<Option<i64>, HistoryError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                self.err(
                    &join(at, key),
                    format!("expected a time in epoch milliseconds or null, found {}", describe(v)),
                )
            }),
        }
    }

    fn opt_bool(&self, map: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, HistoryError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => {
                Err(self.err(&join(at, key), format!("expected a boolean or null, found {}", describe(other))))
            }
        }
    }

    fn opt_error(&self, map: &Map<String, Value>, key: &str, at: &str) -> Result<Option<Error>, HistoryError> {
        let field = join(at, key);
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => {
                let error = self.object(value, &field)?;
                let name = self.string(error, "name", &field)?;
                let message = self.string(error, "message", &field)?;
                Ok(Some(Error::named(name, message)))
            }
        }
    }

    fn history(&self, value: &Value) -> Result<History, HistoryError> {
        let top = self.object(value, "")?;
        let format = self.string(top, "format", "")?;
        if format != FORMAT {
            return Err(self.err("format", format!("is {format:?}; a lunora history says {FORMAT:?}")));
        }
        let version = self.required(top, "version", "")?;
        let version = version
            .as_u64()
            .filter(|v| *v >= 1)
            .ok_or_else(|| self.err("version", format!("expected a whole number ≥ 1, found {}", describe(version))))?;
        if version > FORMAT_VERSION {
            return Err(self.err(
                "version",
                format!(
                    "this history has format version {version}, newer than version {FORMAT_VERSION}, the newest this \
                     lunora-runtime reads; upgrade lunora-runtime (and lunora-codegen) to replay it"
                ),
            ));
        }
        let trigger = match top.get("trigger") {
            None | Some(Value::Null) => Trigger::default(),
            Some(t) => {
                let t = self.object(t, "trigger")?;
                Trigger {
                    timestamp: self.opt_time(t, "timestamp", "trigger")?,
                    source: self.opt_string(t, "source", "trigger")?,
                }
            }
        };
        let steps = match self.required(top, "steps", "")? {
            Value::Array(items) => {
                items.iter().enumerate().map(|(i, s)| self.step(s, &format!("steps[{i}]"))).collect::<Result<_, _>>()?
            }
            other => return Err(self.err("steps", format!("expected an array, found {}", describe(other)))),
        };
        Ok(History {
            source: self.opt_string(top, "source", "")?.unwrap_or_default(),
            workflow: self.non_empty(top, "workflow", "")?,
            instance_id: self.non_empty(top, "instance_id", "")?,
            version_id: self.opt_string(top, "version_id", "")?,
            status: self.string(top, "status", "")?,
            params: top.get("params").cloned().unwrap_or(Value::Object(Map::new())),
            trigger,
            steps,
        })
    }

    fn non_empty(&self, map: &Map<String, Value>, key: &str, at: &str) -> Result<String, HistoryError> {
        let text = self.string(map, key, at)?;
        if text.is_empty() {
            return Err(self.err(&join(at, key), "is empty"));
        }
        Ok(text)
    }

    fn step(&self, value: &Value, at: &str) -> Result<StepRecord, HistoryError> {
        let map = self.object(value, at)?;
        let kind = RecordKind::parse(&self.string(map, "kind", at)?);
        let opaque =
            !matches!(kind, RecordKind::Do | RecordKind::Sleep | RecordKind::WaitForEvent | RecordKind::Rollback);
        // An opaque entry is kept as it is: only its kind is read.
        if opaque {
            return Ok(StepRecord {
                kind,
                name: self.opt_string(map, "name", at).ok().flatten().unwrap_or_default(),
                count: map.get("count").and_then(Value::as_u64).and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
                state: RecordState::Done,
                output: None,
                error: None,
                attempts: Vec::new(),
                started_at: None,
                ended_at: None,
                wake_at: None,
                raw: Some(map.get("raw").cloned().unwrap_or_else(|| value.clone())),
            });
        }
        let count_field = join(at, "count");
        let count = self.required(map, "count", at)?;
        let count = count.as_u64().filter(|c| *c >= 1).and_then(|c| u32::try_from(c).ok()).ok_or_else(|| {
            self.err(&count_field, format!("expected a whole number from 1 to {}, found {}", u32::MAX, describe(count)))
        })?;
        let state_text = self.string(map, "state", at)?;
        let state = RecordState::parse(&state_text).ok_or_else(|| {
            self.err(&join(at, "state"), format!("is {state_text:?}; expected done, failed, waiting or running"))
        })?;
        let attempts = match map.get("attempts") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let field = format!("{at}.attempts[{i}]");
                    let a = self.object(a, &field)?;
                    Ok(AttemptRecord {
                        start: self.opt_time(a, "start", &field)?,
                        end: self.opt_time(a, "end", &field)?,
                        success: self.opt_bool(a, "success", &field)?,
                        error: self.opt_error(a, "error", &field)?,
                    })
                })
                .collect::<Result<_, HistoryError>>()?,
            Some(other) => {
                return Err(self.err(&join(at, "attempts"), format!("expected an array, found {}", describe(other))))
            }
        };
        let output = map.get("output").filter(|v| !v.is_null()).cloned();
        if kind == RecordKind::WaitForEvent && state == RecordState::Done {
            let event_ok = output.as_ref().and_then(Value::as_object).is_some_and(|o| {
                o.contains_key("payload")
                    && o.get("timestamp").is_none_or(|t| t.is_i64())
                    && o.get("type").is_none_or(Value::is_string)
            });
            if !event_ok {
                return Err(self.err(
                    &join(at, "output"),
                    "a received event must be {\"payload\", \"timestamp\": epoch ms, \"type\": a string}",
                ));
            }
        }
        Ok(StepRecord {
            kind,
            name: self.string(map, "name", at)?,
            count,
            state,
            output,
            error: self.opt_error(map, "error", at)?,
            attempts,
            started_at: self.opt_time(map, "started_at", at)?,
            ended_at: self.opt_time(map, "ended_at", at)?,
            wake_at: self.opt_time(map, "wake_at", at)?,
            raw: None,
        })
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}
