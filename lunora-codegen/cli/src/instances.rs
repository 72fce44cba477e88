//! `lunora-codegen instances …`: list, inspect and steer a deployed workflow's instances
//! through the Cloudflare Workflows REST API ([`lunora_runtime::rest`]).
//!
//! Credentials come from `CLOUDFLARE_ACCOUNT_ID` and `CLOUDFLARE_API_TOKEN`; `--api-base`
//! replaces the API root (`https://api.cloudflare.com/client/v4`). Output is a readable table
//! by default and JSON with `--json`.
//!
//! What the API sends back is shown through [`crate::terminal`], so it cannot act on the
//! terminal; the token never shows (the REST client redacts it, see
//! [`lunora_runtime::secret`]), nor does a userinfo in `--api-base`, which is refused.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use lunora_runtime::history::{History, RESUMABLE_STATUSES};
use lunora_runtime::rest::{
    workflows_base_url, Action, Direction, InstanceDetail, InstancePage, ListInstances, StatusChange, TimelineStep,
    WorkflowsRestClient, CLOUDFLARE_API_ROOT,
};
use lunora_runtime::secret::{url_for_display, url_userinfo, MIN_SECRET_CHARS};
use lunora_runtime::{InstanceStatusKind, RestartFrom, StepKind};
use serde_json::Value;

use crate::terminal::{escape, escape_json, one_line};

/// The environment variable holding the account id.
pub const ACCOUNT_ID_VAR: &str = "CLOUDFLARE_ACCOUNT_ID";
/// The environment variable holding the API token.
pub const API_TOKEN_VAR: &str = "CLOUDFLARE_API_TOKEN";

/// `instances` and its options shared by every subcommand.
#[derive(Args, Debug)]
pub struct InstancesArgs {
    #[command(subcommand)]
    pub command: InstancesCommand,
    /// The API root to talk to instead of https://api.cloudflare.com/client/v4 (requests go to
    /// <URL>/accounts/<account id>/workflows/…).
    // --help text (clap), not rustdoc: angle brackets and the bare URL are meant as written.
    #[allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]
    #[arg(long, value_name = "URL", global = true)]
    pub api_base: Option<ApiBase>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The `--api-base` URL; its `Debug` hides a userinfo.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiBase(pub String);

impl From<String> for ApiBase {
    fn from(url: String) -> Self {
        ApiBase(url)
    }
}

impl fmt::Debug for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiBase").field(&url_for_display(&self.0)).finish()
    }
}

/// The workflow and instance an action applies to.
#[derive(Args, Debug)]
pub struct Target {
    /// The deployed workflow name, e.g. order-pipeline.
    pub workflow: String,
    /// The instance id.
    pub instance: String,
}

#[derive(Subcommand, Debug)]
pub enum InstancesCommand {
    /// List a workflow's instances, one page at a time.
    List {
        /// The deployed workflow name, e.g. order-pipeline.
        workflow: String,
        /// Only instances in this status (queued, running, paused, errored, terminated,
        /// complete, waiting, waitingForPause, unknown).
        #[arg(long, value_parser = parse_status)]
        status: Option<InstanceStatusKind>,
        /// The page to fetch (1-based).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        page: Option<u32>,
        /// Instances per page.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        per_page: Option<u32>,
        /// Continue from the cursor a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
        /// Order by creation time.
        #[arg(long, value_enum)]
        direction: Option<DirectionArg>,
        /// Only instances created at or after this time (ISO 8601, UTC).
        #[arg(long, value_name = "TIME")]
        date_start: Option<String>,
        /// Only instances created at or before this time (ISO 8601, UTC).
        #[arg(long, value_name = "TIME")]
        date_end: Option<String>,
    },
    /// Show an instance: status, params, output, error and its step timeline.
    Show(Target),
    /// Pause an instance (in-flight steps finish, no new step starts).
    Pause(Target),
    /// Resume a paused instance.
    Resume(Target),
    /// Terminate an instance.
    Terminate {
        #[command(flatten)]
        target: Target,
        /// Run the completed steps' rollbacks before terminating.
        #[arg(long)]
        rollback: bool,
    },
    /// Restart an instance from the beginning, or from a step (keeping the steps before it).
    Restart {
        #[command(flatten)]
        target: Target,
        /// Restart from the step with this name.
        #[arg(long, value_name = "NAME")]
        from_step: Option<String>,
        /// Which occurrence of that step name (1-based).
        #[arg(long, requires = "from_step", value_parser = clap::value_parser!(u32).range(1..))]
        count: Option<u32>,
        /// The kind of step the name refers to.
        #[arg(long = "type", value_enum, requires = "from_step")]
        step_type: Option<StepTypeArg>,
    },
    /// Write the history of each selected instance (default: every instance that can still run
    /// code) into DIR, one JSON file per instance, for `cargo test` to replay against new code.
    Pull {
        /// The deployed workflow name, e.g. order-pipeline.
        workflow: String,
        /// Only instances in this status (repeatable; default: queued, running, waiting, paused,
        /// waitingForPause).
        #[arg(long, value_parser = parse_status)]
        status: Vec<InstanceStatusKind>,
        /// Only this instance, whatever its status (repeatable).
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// The folder to write the histories into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Send an event to an instance waiting for it.
    SendEvent {
        #[command(flatten)]
        target: Target,
        /// The event type, as passed to wait_for_event.
        #[arg(long = "type", value_name = "TYPE")]
        event_type: String,
        /// The event payload, as JSON.
        #[arg(long, value_name = "JSON")]
        payload: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DirectionArg {
    Asc,
    Desc,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StepTypeArg {
    Do,
    Sleep,
    #[value(name = "waitForEvent", alias = "wait-for-event")]
    WaitForEvent,
}

fn parse_status(text: &str) -> Result<InstanceStatusKind, String> {
    match InstanceStatusKind::parse(text) {
        InstanceStatusKind::Unknown if text != "unknown" => Err(format!(
            "unknown status {text:?}; expected one of queued, running, paused, errored, terminated, complete, \
             waiting, waitingForPause, unknown"
        )),
        status => Ok(status),
    }
}

/// Runs `instances …`, reading the credentials through `env`; returns what to print. Both the
/// output and the error are safe to print on a terminal.
pub fn run(args: InstancesArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    run_unescaped_errors(args, env).map_err(|e| escape(&e).into_owned())
}

fn run_unescaped_errors(args: InstancesArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    // Arguments first: a bad payload should not need credentials to be reported.
    let payload: Option<Value> = match &args.command {
        InstancesCommand::SendEvent { payload, .. } => {
            Some(serde_json::from_str(payload).map_err(|e| format!("--payload is not valid JSON ({e}): {payload}"))?)
        }
        _ => None,
    };
    let client = client(args.api_base.as_ref().map(|b| b.0.as_str()), env)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the async runtime: {e}"))?;
    let json = args.json;
    runtime.block_on(async move {
        match args.command {
            InstancesCommand::List { workflow, status, page, per_page, cursor, direction, date_start, date_end } => {
                let query = ListInstances {
                    workflow_name: workflow,
                    status,
                    page,
                    per_page,
                    cursor,
                    direction: direction.map(|d| match d {
                        DirectionArg::Asc => Direction::Asc,
                        DirectionArg::Desc => Direction::Desc,
                    }),
                    date_start,
                    date_end,
                };
                let page = client.list_instances(&query).await.map_err(|e| e.to_string())?;
                Ok(if json { to_json(serde_json::to_value(&page)) } else { render_page(&page, &query) })
            }
            InstancesCommand::Show(target) => {
                let detail =
                    client.get_instance(&target.workflow, &target.instance).await.map_err(|e| e.to_string())?;
                Ok(if json { to_json(serde_json::to_value(&detail)) } else { render_detail(&detail) })
            }
            InstancesCommand::Pause(target) => change(&client, target, Action::Pause, json).await,
            InstancesCommand::Resume(target) => change(&client, target, Action::Resume, json).await,
            InstancesCommand::Terminate { target, rollback } => {
                change(&client, target, Action::Terminate { rollback }, json).await
            }
            InstancesCommand::Restart { target, from_step, count, step_type } => {
                let from = from_step.map(|name| RestartFrom {
                    name,
                    count: count.unwrap_or(1),
                    kind: match step_type.unwrap_or(StepTypeArg::Do) {
                        StepTypeArg::Do => StepKind::Do,
                        StepTypeArg::Sleep => StepKind::Sleep,
                        StepTypeArg::WaitForEvent => StepKind::WaitForEvent,
                    },
                });
                change(&client, target, Action::Restart { from }, json).await
            }
            InstancesCommand::Pull { workflow, status, ids, out } => {
                pull(&client, &workflow, status, ids, &out, json).await
            }
            InstancesCommand::SendEvent { target, event_type, .. } => {
                let payload = payload.expect("parsed above");
                let result = client
                    .send_event(&target.workflow, &target.instance, &event_type, &payload)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(if json {
                    to_json(Ok(serde_json::json!({"instance": target.instance, "type": event_type, "result": result})))
                } else {
                    format!("sent event `{}` to instance {}\n", one_line(&event_type), one_line(&target.instance))
                })
            }
        }
    })
}

/// The client for the account in the environment, at `api_base` or Cloudflare's API.
fn client(api_base: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<WorkflowsRestClient, String> {
    let read = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let (account, token) = (read(ACCOUNT_ID_VAR), read(API_TOKEN_VAR));
    let (account, token) = match (account, token) {
        (Some(account), Some(token)) => (account, token),
        (account, token) => {
            let mut missing = Vec::new();
            if account.is_none() {
                missing.push(format!("{ACCOUNT_ID_VAR} (your Cloudflare account id)"));
            }
            if token.is_none() {
                missing.push(format!("{API_TOKEN_VAR} (an API token allowed to edit Workers scripts)"));
            }
            return Err(format!("set {} in the environment", missing.join(" and ")));
        }
    };
    let api_base = api_base.unwrap_or(CLOUDFLARE_API_ROOT);
    if !(api_base.starts_with("http://") || api_base.starts_with("https://")) {
        return Err(format!("--api-base must be an http:// or https:// URL, not {:?}", url_for_display(api_base)));
    }
    if url_userinfo(api_base).is_some() {
        return Err(format!(
            "--api-base must not carry credentials (user:password@), which would not be used: the API token \
             ({API_TOKEN_VAR}) authenticates; got {}",
            url_for_display(api_base)
        ));
    }
    let length = token.chars().count();
    if length < MIN_SECRET_CHARS {
        return Err(format!(
            "{API_TOKEN_VAR} is {length} characters long; at least {MIN_SECRET_CHARS} are needed so that it can be \
             told apart from other text and redacted wherever a server echoes it (Cloudflare API tokens are 40)"
        ));
    }
    Ok(WorkflowsRestClient::new(&account, token).with_base_url(workflows_base_url(api_base, account.trim())))
}

/// How many listing pages `pull` follows per status at most (100 instances each).
const MAX_PULL_PAGES: u32 = 1_000;

/// `instances pull`: lists the selected instances, fetches each one's detail and writes its
/// history. Each file is written whole (a temporary file renamed into place); a failure stops
/// the pull, leaving the files written so far.
async fn pull(
    client: &WorkflowsRestClient,
    workflow: &str,
    statuses: Vec<InstanceStatusKind>,
    ids: Vec<String>,
    out: &Path,
    json: bool,
) -> Result<String, String> {
    let mut selected = ids;
    if selected.is_empty() {
        let statuses = if statuses.is_empty() { RESUMABLE_STATUSES.to_vec() } else { statuses };
        for status in statuses {
            let mut query = ListInstances::new(workflow).status(status).per_page(100);
            for _ in 0..MAX_PULL_PAGES {
                let page = client.list_instances(&query).await.map_err(|e| e.to_string())?;
                for instance in &page.instances {
                    if !selected.contains(&instance.id) {
                        selected.push(instance.id.clone());
                    }
                }
                match page.next(&query) {
                    Some(next) => query = next,
                    None => break,
                }
            }
        }
    }
    let mut written: Vec<(String, String, PathBuf)> = Vec::new();
    for id in &selected {
        let detail = client.get_instance(workflow, id).await.map_err(|e| e.to_string())?;
        let history = History::from_rest(workflow, &detail);
        // Ids that differ only in characters a file name cannot hold would share a file.
        if let Some((other, _, _)) =
            written.iter().find(|(_, _, p)| p.file_name() == Some(history.file_name().as_ref()))
        {
            return Err(format!(
                "instances {other:?} and {id:?} would both be written to {}; pull them into separate folders with --id",
                out.join(history.file_name()).display()
            ));
        }
        let path = history.write_to_dir(out).map_err(|e| format!("cannot write into {}: {e}", out.display()))?;
        written.push((id.clone(), history.status.clone(), path));
    }
    if json {
        let files: Vec<Value> = written
            .iter()
            .map(|(id, status, path)| serde_json::json!({"instance": id, "status": status, "file": path.display().to_string()}))
            .collect();
        return Ok(to_json(Ok(Value::Array(files))));
    }
    let mut text = format!("pulled {} histories of {} into {}\n", written.len(), one_line(workflow), out.display());
    for (id, status, path) in &written {
        text.push_str(&format!("  {}  {}  {}\n", one_line(id), one_line(status), path.display()));
    }
    Ok(text)
}

async fn change(client: &WorkflowsRestClient, target: Target, action: Action, json: bool) -> Result<String, String> {
    let verb = action.as_str();
    let change =
        client.set_instance_status(&target.workflow, &target.instance, action).await.map_err(|e| e.to_string())?;
    Ok(if json { to_json(serde_json::to_value(&change)) } else { render_change(verb, &target.instance, &change) })
}

/// Pretty JSON, with what serde_json leaves raw but a terminal would obey escaped.
fn to_json(value: Result<Value, serde_json::Error>) -> String {
    let text = serde_json::to_string_pretty(&value.expect("plain JSON")).expect("plain JSON");
    let mut text = escape_json(&text).into_owned();
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

const NONE: &str = "-";

/// A listing as a table, with where the next page is.
pub fn render_page(page: &InstancePage, query: &ListInstances) -> String {
    if page.instances.is_empty() {
        return format!("no instances of {} on page {}\n", one_line(&query.workflow_name), page.page);
    }
    let rows = page
        .instances
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.status_text.clone(),
                opt_time(i.created_on.as_deref()),
                opt_time(i.started_on.as_deref()),
                opt_time(i.ended_on.as_deref()),
            ]
        })
        .collect();
    let mut out = table(&["ID", "STATUS", "CREATED", "STARTED", "ENDED"], rows);
    let shown = page.instances.len();
    let mut footer = match page.total_count {
        Some(total) => format!("page {} ({shown} shown, {total} in all)", page.page),
        None => format!("page {} ({shown} shown)", page.page),
    };
    match page.next(query) {
        Some(next) if next.cursor.is_some() => {
            footer.push_str(&format!("; next page: --cursor {}", one_line(&next.cursor.unwrap_or_default())))
        }
        Some(next) => footer.push_str(&format!("; next page: --page {}", next.page.unwrap_or(page.page + 1))),
        None => footer.push_str("; last page"),
    }
    out.push('\n');
    out.push_str(&footer);
    out.push('\n');
    out
}

/// An instance: a header of key facts, then its step timeline as a table.
pub fn render_detail(detail: &InstanceDetail) -> String {
    let mut facts: Vec<(&str, String)> = vec![("instance", detail.id.clone()), ("status", detail.status_text.clone())];
    if let Some(trigger) = &detail.trigger {
        facts.push(("trigger", trigger.source.clone()));
    }
    if let Some(version) = &detail.version_id {
        facts.push(("version", version.clone()));
    }
    facts.push(("queued", opt_time(detail.queued.as_deref())));
    facts.push(("started", opt_time(detail.start.as_deref())));
    let ended = match (&detail.end, span(detail.start.as_deref(), detail.end.as_deref())) {
        (Some(end), Some(took)) => format!("{} (took {})", time(end), format_duration(took)),
        (end, _) => opt_time(end.as_deref()),
    };
    facts.push(("ended", ended));
    if let Some(error) = &detail.error {
        facts.push(("error", error.to_string()));
    }
    facts.push(("params", detail.params.as_ref().map_or(NONE.to_owned(), |v| compact(v, 200))));
    facts.push(("output", detail.output.as_ref().map_or(NONE.to_owned(), |v| compact(v, 200))));
    if let Some(rollback) = &detail.rollback {
        facts.push(("rollback", compact(rollback, 200)));
    }
    let width = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in &facts {
        out.push_str(&format!("{key:<width$}  {}\n", one_line(value)));
    }
    out.push('\n');
    if detail.steps.is_empty() {
        out.push_str("no steps yet\n");
        return out;
    }
    let rows = detail
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            vec![
                (i + 1).to_string(),
                cut(step.name().unwrap_or(NONE), 48),
                step.kind().to_owned(),
                match step {
                    TimelineStep::Step(s) | TimelineStep::Rollback(s) => s.attempts.len().to_string(),
                    _ => NONE.to_owned(),
                },
                opt_time(step.start()),
                step.duration().map_or(NONE.to_owned(), format_duration),
                outcome(step),
            ]
        })
        .collect();
    out.push_str(&table(&["#", "STEP", "TYPE", "ATTEMPTS", "START", "DURATION", "RESULT"], rows));
    let count = detail.step_count.map_or(String::new(), |n| format!(" (step_count {n})"));
    out.push_str(&format!("\n{} timeline entries{count}\n", detail.steps.len()));
    out
}

/// What a status change did, in one line.
pub fn render_change(verb: &str, instance: &str, change: &StatusChange) -> String {
    match &change.timestamp {
        Some(at) => format!(
            "{verb}: instance {} is now {} (at {})\n",
            one_line(instance),
            one_line(&change.status_text),
            one_line(&time(at))
        ),
        None => format!("{verb}: instance {} is now {}\n", one_line(instance), one_line(&change.status_text)),
    }
}

/// The RESULT cell of a timeline entry.
fn outcome(step: &TimelineStep) -> String {
    let text = match step {
        TimelineStep::Step(s) | TimelineStep::Rollback(s) => match s.success {
            Some(true) => match &s.output {
                Some(output) => format!("ok: {}", compact(output, 60)),
                None => "ok".to_owned(),
            },
            Some(false) => match s.attempts.iter().rev().find_map(|a| a.error.as_ref()) {
                Some(error) => format!("failed: {error}"),
                None => "failed".to_owned(),
            },
            None if s.end.is_none() => format!("running (attempt {})", s.attempts.len().max(1)),
            None => NONE.to_owned(),
        },
        TimelineStep::Sleep(w) => match (&w.error, w.finished) {
            (Some(error), _) => format!("failed: {error}"),
            (None, Some(true)) => "done".to_owned(),
            (None, _) => match &w.end {
                Some(end) => format!("sleeping until {}", time(end)),
                None => "sleeping".to_owned(),
            },
        },
        TimelineStep::WaitForEvent(w) => match (&w.error, w.finished) {
            (Some(error), _) => format!("failed: {error}"),
            (None, Some(true)) => match w.output.as_ref().map(|o| o.get("payload").unwrap_or(o)) {
                Some(payload) => format!("received: {}", compact(payload, 60)),
                None => "received".to_owned(),
            },
            (None, _) => "waiting".to_owned(),
        },
        TimelineStep::Termination(t) => match &t.trigger {
            Some(trigger) => format!("terminated (source: {})", trigger.source),
            None => "terminated".to_owned(),
        },
        TimelineStep::Unknown(_) => "(unrecognised entry; see --json)".to_owned(),
    };
    cut(&text, 100)
}

/// Left-aligned columns two spaces apart, trailing spaces trimmed; every cell made safe for
/// the terminal (cells built with [`cut`] already are).
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let rows: Vec<Vec<String>> =
        rows.into_iter().map(|row| row.into_iter().map(|cell| one_line(&cell).into_owned()).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `2025-06-01T12:00:00.120Z` as `2025-06-01 12:00:00.120`.
fn time(ts: &str) -> String {
    ts.replacen('T', " ", 1).trim_end_matches('Z').to_owned()
}

fn opt_time(ts: Option<&str>) -> String {
    ts.map_or(NONE.to_owned(), time)
}

fn span(start: Option<&str>, end: Option<&str>) -> Option<Duration> {
    let start = lunora_runtime::rest::parse_timestamp(start?)?;
    lunora_runtime::rest::parse_timestamp(end?)?.duration_since(start).ok()
}

/// Compact JSON, cut to `max` characters.
fn compact(value: &Value, max: usize) -> String {
    cut(&value.to_string(), max)
}

/// One line, safe for the terminal, at most `max` characters (escapes counted as written, so
/// the table stays as narrow as promised).
fn cut(text: &str, max: usize) -> String {
    let text = one_line(text);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `330ms`, `1.5s`, `51.6s`, `3m 11s`, `2h 5m`, `3d 4h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let (s, m, h, day) = (1_000, 60_000, 3_600_000, 86_400_000);
    if ms < s {
        format!("{ms}ms")
    } else if ms < m {
        let tenths = (ms + 50) / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else if ms < h {
        join_units(ms / m, "m", ms % m / s, "s")
    } else if ms < day {
        join_units(ms / h, "h", ms % h / m, "m")
    } else {
        join_units(ms / day, "d", ms % day / h, "h")
    }
}

fn join_units(major: u128, major_unit: &str, minor: u128, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit} {minor}{minor_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let f = |ms| format_duration(Duration::from_millis(ms));
        assert_eq!(
            [f(0), f(330), f(1_500), f(51_600), f(60_000), f(191_400), f(7_500_000), f(2 * 86_400_000 + 3_600_000)],
            ["0ms", "330ms", "1.5s", "51.6s", "1m", "3m 11s", "2h 5m", "2d 1h"]
        );
        assert_eq!(f(59_990), "60s");
    }

    #[test]
    fn tables_align_on_characters() {
        let out = table(&["A", "B"], vec![vec!["é☕".into(), "x".into()], vec!["long".into(), "".into()]]);
        assert_eq!(out, "A     B\né☕    x\nlong\n");
    }

    #[test]
    fn debug_output_hides_the_api_base_userinfo() {
        let args = InstancesArgs {
            command: InstancesCommand::Pause(Target { workflow: "wf".into(), instance: "i".into() }),
            api_base: Some(ApiBase("https://ops:hunter2-pw@api.example/client/v4".into())),
            json: false,
        };
        let debug = format!("{args:?} {args:#?}");
        assert!(!debug.contains("hunter2-pw") && !debug.contains("ops:"), "{debug}");
        assert!(debug.contains("https://[REDACTED]@api.example/client/v4"), "{debug}");
    }

    #[test]
    fn missing_credentials_are_named() {
        let none = |_: &str| None;
        let err = client(None, &none).unwrap_err();
        assert!(err.contains(ACCOUNT_ID_VAR) && err.contains(API_TOKEN_VAR), "{err}");
        let only_account = |name: &str| (name == ACCOUNT_ID_VAR).then(|| "acc".to_owned());
        let err = client(None, &only_account).unwrap_err();
        assert!(err.contains(API_TOKEN_VAR) && !err.contains(ACCOUNT_ID_VAR), "{err}");
        let blank_token = |name: &str| Some(if name == API_TOKEN_VAR { "  ".to_owned() } else { "acc".to_owned() });
        assert!(client(None, &blank_token).unwrap_err().contains(API_TOKEN_VAR));
    }
}
