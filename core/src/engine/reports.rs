//! What each HTTP exchange came to, for an operator's log: [`Engine::poll_report`].
//!
//! The engine decides most answers a failing client gets (403 for a foreign `Host`, 404 for a
//! session that is gone, 400 for a malformed body, 503 when full), so only the engine can say
//! which request got which and why; an adapter turns the reports into log lines. Reporting is
//! off unless [`Config::reporting`](super::Config::reporting) asks for it, and costs nothing
//! then: an exchange keeps what a report needs only while reporting is on.
//!
//! The queue is bounded: at most [`MAX_PENDING_REPORTS`] wait, each of bounded size (the
//! strings a peer chooses are cut to [`MAX_REPORTED_TEXT`] bytes), and a report past that is
//! dropped and counted in [`Counters::reports_dropped`](super::Counters::reports_dropped):
//! a log must never hold memory a flood of bad requests can grow. While reporting is on, an
//! exchange also keeps its draft (the same bounded strings, under 600 bytes) until its head:
//! one per live exchange, whose number `limits.max_connections` already bounds.

use alloc::boxed::Box;
use alloc::string::String;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Engine;
use super::ids::{ConnId, ExchangeId, SessionKey};
use crate::http1::Request;
use crate::jsonrpc::{Message, RequestId};
use crate::time::{Duration, Instant};

/// Reports that wait for [`Engine::poll_report`] at most; more are dropped and counted.
pub const MAX_PENDING_REPORTS: usize = 256;

/// The longest text a report keeps of what a peer sent (a path, a method, a request id, a
/// refusal's message); longer text is cut at a character boundary.
pub const MAX_REPORTED_TEXT: usize = 128;

/// Which exchanges [`Engine::poll_report`] reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reporting {
    /// None (the default).
    #[default]
    Off,
    /// Those the engine refused (an error status, or a connection answered without a request).
    Refusals,
    /// Every one: each response head, each refusal, each exchange its client left unanswered.
    Everything,
}

/// One exchange's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExchangeReport {
    /// The connection it came on; `None` for a request handed over by the host.
    pub conn: Option<ConnId>,
    /// The HTTP method and path (empty for a connection refused before any request).
    pub http_method: String,
    /// The request target's path.
    pub path: String,
    /// The JSON-RPC method of the body's request (`batch` for a batch), when it had one.
    pub method: Option<String>,
    /// That request's id, as JSON text.
    pub request_id: Option<String>,
    /// The session the request was for, once the engine found it.
    pub session: Option<SessionKey>,
    /// The response's status; `None` when the client went away before any response.
    pub status: Option<u16>,
    /// The response is a stream (SSE); `elapsed` then runs to its head, not its end.
    pub streaming: bool,
    /// Why the engine refused it: the JSON-RPC error of the response.
    pub refusal: Option<Refusal>,
    /// From the request's arrival to its response head (or to its end, unanswered).
    pub elapsed: Duration,
}

/// A refusal's JSON-RPC error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The error code.
    pub code: i64,
    /// The error message, cut to [`MAX_REPORTED_TEXT`] bytes.
    pub message: String,
}

/// What an exchange notes for its report while reporting is on.
#[derive(Debug)]
pub(crate) struct ReportDraft {
    started: Instant,
    http_method: String,
    path: String,
    method: Option<String>,
    request_id: Option<String>,
    session: Option<SessionKey>,
}

/// `text`, cut to at most [`MAX_REPORTED_TEXT`] bytes at a character boundary, with every
/// control character replaced by U+FFFD: a peer's newline or escape sequence must not forge a
/// line, or a colour, in the log a report is written to.
fn bounded(text: &str) -> String {
    let mut end = text.len().min(MAX_REPORTED_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end]
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn id_text(id: &RequestId) -> String {
    bounded(&serde_json::to_string(id).unwrap_or_default())
}

/// The JSON-RPC error of an error body the engine wrote, and the id it names.
fn refusal_of(body: &[u8]) -> Option<(Refusal, Option<String>)> {
    #[derive(Deserialize)]
    struct Body<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
        error: ErrorMember,
    }
    #[derive(Deserialize)]
    struct ErrorMember {
        code: i64,
        message: String,
    }
    let body: Body<'_> = serde_json::from_slice(body).ok()?;
    let id = body
        .id
        .map(RawValue::get)
        .filter(|id| *id != "null")
        .map(bounded);
    Some((
        Refusal {
            code: body.error.code,
            message: bounded(&body.error.message),
        },
        id,
    ))
}

impl Engine {
    /// The next exchange report, oldest first, when [`Config::reporting`] asks for them.
    /// Drain it with the other outputs: [`Engine::poll_timeout`] is `now` while one waits.
    ///
    /// [`Config::reporting`]: super::Config::reporting
    #[must_use]
    pub fn poll_report(&mut self) -> Option<ExchangeReport> {
        let report = self.reports.pop_front();
        if report.is_none() {
            super::release_if_idle(&mut self.reports);
        }
        report
    }

    /// Starts `exchange`'s draft, when reports are wanted.
    pub(super) fn draft_report(&mut self, exchange: ExchangeId, request: &Request) {
        if self.config.reporting == Reporting::Off {
            return;
        }
        let started = self.now();
        if let Some(ex) = self.exchanges.get_mut(exchange) {
            ex.report = Some(Box::new(ReportDraft {
                started,
                http_method: bounded(request.method_str()),
                path: bounded(request.path()),
                method: None,
                request_id: None,
                session: None,
            }));
        }
    }

    /// Notes the method and id of a body's request (or that it is a batch).
    pub(super) fn note_request<E>(
        &mut self,
        exchange: ExchangeId,
        messages: &[Result<Message, E>],
        batch: bool,
    ) {
        let Some(draft) = self.draft_of(exchange) else {
            return;
        };
        if batch {
            draft.method = Some(String::from("batch"));
            return;
        }
        match messages.first() {
            Some(Ok(Message::Request(request))) => {
                draft.method = Some(bounded(&request.method));
                draft.request_id = Some(id_text(&request.id));
            }
            Some(Ok(Message::Notification(notification))) => {
                draft.method = Some(bounded(&notification.method));
            }
            _ => {}
        }
    }

    /// Notes the session a request was for.
    pub(super) fn note_session(&mut self, exchange: ExchangeId, session: SessionKey) {
        if let Some(draft) = self.draft_of(exchange) {
            draft.session = Some(session);
        }
    }

    fn draft_of(&mut self, exchange: ExchangeId) -> Option<&mut ReportDraft> {
        self.exchanges.get_mut(exchange)?.report.as_deref_mut()
    }

    /// Reports `exchange`'s response head: `status`, and for an error status, the JSON-RPC
    /// error in `body`. Takes the draft, so an exchange is reported once.
    pub(super) fn report_head(
        &mut self,
        exchange: ExchangeId,
        status: u16,
        streaming: bool,
        body: &[u8],
    ) {
        let Some(ex) = self.exchanges.get_mut(exchange) else {
            return;
        };
        let Some(draft) = ex.report.take() else {
            return;
        };
        let conn = match ex.sink {
            super::entities::Sink::Conn(conn) => Some(conn),
            super::entities::Sink::Host(_) => None,
        };
        let refused = if status >= 400 {
            refusal_of(body)
        } else {
            None
        };
        let refusal = refused.as_ref().map(|(refusal, _)| refusal.clone());
        if refusal.is_none() && self.config.reporting != Reporting::Everything {
            return;
        }
        let named = refused.and_then(|(_, id)| id);
        let report = ExchangeReport {
            conn,
            http_method: draft.http_method,
            path: draft.path,
            method: draft.method,
            request_id: draft.request_id.or(named),
            session: draft.session,
            status: Some(status),
            streaming,
            refusal,
            elapsed: self.now().saturating_duration_since(draft.started),
        };
        self.queue_report(report);
    }

    /// Reports an exchange that ends with no response (its client went away).
    pub(super) fn report_unanswered(&mut self, conn: Option<ConnId>, draft: &ReportDraft) {
        if self.config.reporting != Reporting::Everything {
            return;
        }
        let report = ExchangeReport {
            conn,
            http_method: draft.http_method.clone(),
            path: draft.path.clone(),
            method: draft.method.clone(),
            request_id: draft.request_id.clone(),
            session: draft.session,
            status: None,
            streaming: false,
            refusal: None,
            elapsed: self.now().saturating_duration_since(draft.started),
        };
        self.queue_report(report);
    }

    /// Reports a connection answered without a request of its own: refused at accept, a
    /// request that did not arrive in time, or one the codec could not parse.
    pub(super) fn report_connection_refused(&mut self, conn: ConnId, status: u16, message: &str) {
        if self.config.reporting == Reporting::Off {
            return;
        }
        let report = ExchangeReport {
            conn: Some(conn),
            http_method: String::new(),
            path: String::new(),
            method: None,
            request_id: None,
            session: None,
            status: Some(status),
            streaming: false,
            refusal: Some(Refusal {
                code: crate::jsonrpc::ErrorCode::SERVER_ERROR.0,
                message: bounded(message),
            }),
            elapsed: Duration::ZERO,
        };
        self.queue_report(report);
    }

    fn queue_report(&mut self, report: ExchangeReport) {
        if self.reports.len() >= MAX_PENDING_REPORTS {
            self.counters.reports_dropped += 1;
            return;
        }
        self.reports.push_back(report);
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_REPORTED_TEXT, bounded, refusal_of};

    #[test]
    fn text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_REPORTED_TEXT);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_REPORTED_TEXT);
        assert_eq!(cut.len() % 2, 0, "no half character");
        assert_eq!(bounded("short"), "short");
        assert_eq!(bounded("a\nb\u{1b}[31mc"), "a\u{fffd}b\u{fffd}[31mc");
    }

    #[test]
    fn a_refusal_is_read_from_the_error_body() {
        let body =
            br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32001,"message":"Session not found"}}"#;
        let (refusal, id) = refusal_of(body).unwrap();
        assert_eq!(refusal.code, -32001);
        assert_eq!(refusal.message, "Session not found");
        assert_eq!(id.as_deref(), Some("7"));
        let anonymous = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"x"}}"#;
        assert_eq!(refusal_of(anonymous).unwrap().1, None);
        assert!(refusal_of(b"not json").is_none());
    }
}
