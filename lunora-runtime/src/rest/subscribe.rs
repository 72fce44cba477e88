//! `GET /<workflow>/instances/<id>/subscribe?cursor=&filter=`: an instance's events over HTTP,
//! as Server-Sent Events.
//!
//! The stream (`text/event-stream`) carries one frame per event, `id: <eventId>` and
//! `data: <the event's JSON>` (the binding's shape, see [`crate::subscription`]); a normal end
//! is a frame `event: end`; a failure after the stream started is a frame `event: error` with
//! `data: {"name", "message"}`. Lines starting with `:` are keep-alives. A failure before the
//! stream starts (unknown instance, bad options, authentication) is an ordinary envelope with
//! `success: false`.
//!
//! The client refuses what a server should not send: a frame over [`MAX_EVENT_BYTES`], data that
//! is not an event, ids that do not increase, and a stream that stops (the server hung up, a
//! proxy cut it) without its end frame, which is an error, never a silent end. Reconnecting is
//! the caller's choice: subscribe again with `cursor` set to the last event id it handled.

// The decoder reads native streams only (a Worker subscribes through its binding).
#![cfg_attr(target_arch = "wasm32", allow(dead_code))]

use std::io::BufRead;

use crate::error::Error;
use crate::subscription::{InstanceEvent, SubscribeOptions};

use super::query::encode_path_segment;

/// The largest frame the client reads (a step output may be 1 MiB, escaped in JSON); a bigger
/// one fails the subscription rather than grow without bound.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// The code of the errors a broken event stream gives.
pub const SUBSCRIPTION_BROKEN: &str = "instance.subscription_broken";

/// `?cursor=<n>&filter=<a>,<b>` (empty without options).
pub fn subscribe_query(options: &SubscribeOptions) -> String {
    let mut pairs = Vec::new();
    if let Some(cursor) = options.cursor {
        pairs.push(format!("cursor={cursor}"));
    }
    if let Some(filter) = &options.filter {
        let joined: Vec<String> = filter.iter().map(|t| encode_path_segment(t)).collect();
        pairs.push(format!("filter={}", joined.join(",")));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// One event as a frame.
pub fn event_frame(event: &InstanceEvent) -> String {
    let data = serde_json::to_string(event).expect("events are plain JSON");
    format!("id: {}\ndata: {data}\n\n", event.event_id)
}

/// The frame of a normal end.
pub const END_FRAME: &str = "event: end\ndata: {}\n\n";

/// The frame of a failure after the stream started.
pub fn error_frame(error: &Error) -> String {
    let data = serde_json::json!({ "name": error.name(), "message": error.message() });
    format!("event: error\ndata: {data}\n\n")
}

/// What one frame of the stream said.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame {
    Event(Box<InstanceEvent>),
    End,
}

/// Reads frames from a byte stream, checking them as it goes.
pub(crate) struct Decoder<R> {
    reader: R,
    line: Vec<u8>,
    last_id: Option<u64>,
    /// Where the stream comes from, for messages.
    what: String,
}

fn broken(message: String) -> Error {
    Error::workflow(SUBSCRIPTION_BROKEN, message)
}

impl<R: BufRead> Decoder<R> {
    pub fn new(reader: R, what: String) -> Self {
        Self { reader, line: Vec::new(), last_id: None, what }
    }

    /// The id of the last event read, for resuming.
    fn resume_hint(&self) -> String {
        match self.last_id {
            Some(id) => format!("subscribe again with cursor {id} to resume after the last event received"),
            None => "subscribe again to resume (no event was received)".to_owned(),
        }
    }

    /// Reads one line (without its `\n` or `\r\n`) of at most [`MAX_EVENT_BYTES`]; `None` at
    /// the end of the stream. A last line without its `\n` is a cut stream.
    fn read_line(&mut self) -> Result<Option<&str>, Error> {
        self.line.clear();
        let limit = MAX_EVENT_BYTES as u64 + 2;
        let read = <&mut R as std::io::Read>::take(&mut self.reader, limit).read_until(b'\n', &mut self.line).map_err(
            |e| broken(format!("{}: reading the event stream failed ({e}); {}", self.what, self.resume_hint())),
        )?;
        if read == 0 {
            return Ok(None);
        }
        if self.line.last() != Some(&b'\n') {
            let why = if self.line.len() as u64 >= limit {
                format!("a line is longer than {MAX_EVENT_BYTES} bytes")
            } else {
                "the server hung up in the middle of a line".to_owned()
            };
            return Err(broken(format!("{}: {why}; {}", self.what, self.resume_hint())));
        }
        self.line.pop();
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        std::str::from_utf8(&self.line)
            .map(Some)
            .map_err(|_| broken(format!("{}: the event stream is not UTF-8; {}", self.what, self.resume_hint())))
    }

    /// The next frame; an error for anything but a well-formed stream.
    pub fn next_frame(&mut self) -> Result<Frame, Error> {
        let mut data = String::new();
        let mut has_data = false;
        let mut kind: Option<String> = None;
        let mut id: Option<String> = None;
        loop {
            let what = self.what.clone();
            let hint = self.resume_hint();
            let Some(line) = self.read_line()? else {
                let why = if has_data || kind.is_some() || id.is_some() {
                    "the server hung up in the middle of an event"
                } else {
                    "the stream ended without its end frame (the connection was cut)"
                };
                return Err(broken(format!("{what}: {why}; {hint}")));
            };
            if line.is_empty() {
                if !has_data && kind.is_none() {
                    id = None;
                    continue; // a blank line after keep-alives: nothing to dispatch
                }
                break;
            }
            if line.starts_with(':') {
                continue; // a comment (keep-alive)
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "data" => {
                    if data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                        return Err(broken(format!("{what}: an event is larger than {MAX_EVENT_BYTES} bytes; {hint}")));
                    }
                    if has_data {
                        data.push('\n');
                    }
                    data.push_str(value);
                    has_data = true;
                }
                "event" => kind = Some(value.to_owned()),
                "id" => id = Some(value.to_owned()),
                "retry" => {}
                other => {
                    let shown: String = other.chars().take(40).collect();
                    return Err(broken(format!(
                        "{what}: a malformed line (field {shown:?}) in the event stream; {hint}"
                    )));
                }
            }
        }
        match kind.as_deref() {
            None | Some("message") => {}
            Some("end") => return Ok(Frame::End),
            Some("error") => {
                let reported: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                let field = |f: &str| reported.get(f).and_then(serde_json::Value::as_str).map(str::to_owned);
                let message = field("message").unwrap_or_else(|| data.chars().take(200).collect());
                return Err(Error::named(field("name").unwrap_or_else(|| "Error".into()), message));
            }
            Some(other) => {
                let shown: String = other.chars().take(40).collect();
                return Err(broken(format!(
                    "{}: an unknown frame type {shown:?} in the event stream; {}",
                    self.what,
                    self.resume_hint()
                )));
            }
        }
        let event: InstanceEvent = serde_json::from_str(&data).map_err(|e| {
            let shown: String = data.chars().take(200).collect();
            broken(format!("{}: a frame that is not an event ({e}): {shown}; {}", self.what, self.resume_hint()))
        })?;
        if let Some(id) = id {
            if id.parse::<u64>().ok() != Some(event.event_id) {
                return Err(broken(format!(
                    "{}: a frame whose id {id:?} is not its event's id {}; {}",
                    self.what,
                    event.event_id,
                    self.resume_hint()
                )));
            }
        }
        if self.last_id.is_some_and(|last| event.event_id <= last) {
            return Err(broken(format!(
                "{}: event ids went from {} to {} (they must increase); {}",
                self.what,
                self.last_id.unwrap_or_default(),
                event.event_id,
                self.resume_hint()
            )));
        }
        self.last_id = Some(event.event_id);
        Ok(Frame::Event(Box::new(event)))
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(super) mod native {
    //! The native stream: ureq on a blocking thread, frames handed over through a channel
    //! whose capacity is the read-ahead. Dropping the subscription closes the channel; the
    //! thread notices at its next frame (the local server sends keep-alives) and closes the
    //! connection.

    use std::io::BufReader;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc;

    use crate::error::{Error, Result};
    use crate::rest::subscribe::{Decoder, Frame};
    use crate::subscription::{InstanceEvent, Subscription};

    /// Frames read ahead of the consumer.
    const READ_AHEAD: usize = 64;

    /// Starts reading `response`'s stream; events arrive through the returned subscription.
    pub fn spawn(body: ureq::Body, what: String, redact: impl Fn(&str) -> String + Send + 'static) -> Subscription {
        let (sender, receiver) = mpsc::channel(READ_AHEAD);
        tokio::task::spawn_blocking(move || {
            let mut decoder = Decoder::new(BufReader::new(body.into_reader()), what);
            loop {
                let item = match decoder.next_frame() {
                    Ok(Frame::Event(event)) => Ok(*event),
                    Ok(Frame::End) => return,
                    Err(e) => Err(Error::named(e.name(), redact(e.message()))),
                };
                let failed = item.is_err();
                if sender.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        Subscription::new(Received(receiver))
    }

    struct Received(mpsc::Receiver<Result<InstanceEvent>>);

    impl futures_core::Stream for Received {
        type Item = Result<InstanceEvent>;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Vec<Result<Frame, String>> {
        let mut decoder = Decoder::new(text.as_bytes(), "test".into());
        let mut out = Vec::new();
        loop {
            match decoder.next_frame() {
                Ok(Frame::End) => {
                    out.push(Ok(Frame::End));
                    return out;
                }
                Ok(frame) => out.push(Ok(frame)),
                Err(e) => {
                    out.push(Err(e.message().to_owned()));
                    return out;
                }
            }
        }
    }

    fn event(id: u64) -> String {
        format!(r#"{{"instanceId":"i","eventId":{id},"timestamp":1,"type":"workflow_running"}}"#)
    }

    #[test]
    fn reads_events_keep_alives_and_the_end() {
        let text = format!(
            ": hi\n\nid: 1\ndata: {}\n\n:\r\nid: 2\r\ndata: {}\r\n\r\nevent: end\ndata: {{}}\n\n",
            event(1),
            event(2)
        );
        let frames = decode(&text);
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert!(matches!(&frames[1], Ok(Frame::Event(e)) if e.event_id == 2));
        assert_eq!(frames[2], Ok(Frame::End));
    }

    #[test]
    fn a_cut_stream_is_an_error_that_says_where_to_resume() {
        let frames = decode(&format!("id: 7\ndata: {}\n\n", event(7)));
        let err = frames.last().unwrap().as_ref().unwrap_err();
        assert!(err.contains("without its end frame") && err.contains("cursor 7"), "{err}");
        let frames = decode(&format!("id: 7\ndata: {}\n\nid: 8\ndata: {{\"instanceId\"", event(7)));
        let err = frames.last().unwrap().as_ref().unwrap_err();
        assert!(err.contains("hung up in the middle"), "{err}");
        let frames = decode(&format!("id: 7\ndata: {}\n\nid: 8\n", event(7)));
        assert!(frames.last().unwrap().as_ref().unwrap_err().contains("in the middle of an event"));
    }

    #[test]
    fn hostile_frames_are_refused() {
        for (text, expected) in [
            ("data: {not json}\n\n".to_owned(), "not an event"),
            ("bogus field\n\n".to_owned(), "malformed line"),
            (format!("id: 3\ndata: {}\n\nid: 2\ndata: {}\n\n", event(3), event(2)), "must increase"),
            (format!("id: 4\ndata: {}\n\n", event(3)), "is not its event's id"),
            ("event: surprise\ndata: {}\n\n".to_owned(), "unknown frame type"),
            (format!("data: {}\n\n", "x".repeat(MAX_EVENT_BYTES + 10)), "longer than"),
            (
                format!("data: {}\ndata: {}\n\n", "x".repeat(MAX_EVENT_BYTES / 2 + 1), "x".repeat(MAX_EVENT_BYTES / 2)),
                "larger than",
            ),
        ] {
            let frames = decode(&text);
            let err = frames.last().unwrap().as_ref().unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let mut decoder = Decoder::new(&b"data: \xff\xfe\n\n"[..], "t".into());
        assert!(decoder.next_frame().unwrap_err().message().contains("not UTF-8"));
    }

    #[test]
    fn an_error_frame_carries_the_servers_error() {
        let error = Error::workflow("instance.not_found", "gone");
        let frame = error_frame(&error);
        let mut decoder = Decoder::new(frame.as_bytes(), "t".into());
        let decoded = decoder.next_frame().unwrap_err();
        assert_eq!(
            (decoded.name(), decoded.code(), decoded.message()),
            ("WorkflowError", Some("instance.not_found"), "(instance.not_found) gone")
        );
    }

    #[test]
    fn frames_round_trip() {
        let e: InstanceEvent = serde_json::from_str(&event(5)).unwrap();
        let text = format!("{}{END_FRAME}", event_frame(&e));
        assert_eq!(decode(&text), vec![Ok(Frame::Event(Box::new(e))), Ok(Frame::End)]);
        let opts = SubscribeOptions::new().cursor(9).filter(["step_completed", "workflow_errored"]);
        assert_eq!(subscribe_query(&opts), "?cursor=9&filter=step_completed,workflow_errored");
        assert_eq!(subscribe_query(&SubscribeOptions::new()), "");
    }
}
