//! `ctx.log`: log lines prefixed with the workflow's export name, and where they go.

use std::fmt;
use std::sync::{Arc, Mutex};

/// Log severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Where log lines go.
pub trait LogSink: Send + Sync {
    fn write(&self, level: Level, line: &str);
}

/// Writes to standard error.
pub struct StderrSink;

impl LogSink for StderrSink {
    fn write(&self, level: Level, line: &str) {
        eprintln!("{level:?} {line}");
    }
}

/// Keeps every line in memory, for tests.
#[derive(Default)]
pub struct CaptureSink {
    lines: Mutex<Vec<(Level, String)>>,
}

impl CaptureSink {
    /// The captured lines, oldest first.
    pub fn lines(&self) -> Vec<(Level, String)> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl LogSink for CaptureSink {
    fn write(&self, level: Level, line: &str) {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push((level, line.to_owned()));
    }
}

/// A logger whose lines start with `[workflow:<exportName>]`.
#[derive(Clone)]
pub struct Logger {
    prefix: Arc<str>,
    sink: Arc<dyn LogSink>,
}

impl Logger {
    pub fn new(export_name: &str, sink: Arc<dyn LogSink>) -> Self {
        Self { prefix: format!("[workflow:{export_name}]").into(), sink }
    }

    fn write(&self, level: Level, message: fmt::Arguments<'_>) {
        self.sink.write(level, &format!("{} {message}", self.prefix));
    }

    pub fn debug(&self, message: impl fmt::Display) {
        self.write(Level::Debug, format_args!("{message}"));
    }

    pub fn info(&self, message: impl fmt::Display) {
        self.write(Level::Info, format_args!("{message}"));
    }

    pub fn warn(&self, message: impl fmt::Display) {
        self.write(Level::Warn, format_args!("{message}"));
    }

    pub fn error(&self, message: impl fmt::Display) {
        self.write(Level::Error, format_args!("{message}"));
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger").field("prefix", &self.prefix).finish()
    }
}
