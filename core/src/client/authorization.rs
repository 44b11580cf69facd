//! The authorization gate: the credential sent with every request, and what a request the
//! server refuses for want of one waits for.
//!
//! A response with status 401, or 403 whose `WWW-Authenticate` carries a Bearer challenge with
//! `error="insufficient_scope"` (step-up), to any request of the client opens the gate:
//! [`ClientEvent::AuthorizationRequired`] says so, once, and the client waits (at most
//! [`ClientTimeouts::authorization`](super::ClientTimeouts::authorization)) for
//! [`Client::set_authorization`] or [`Client::authorization_failed`]. Meanwhile it starts
//! nothing: no call, post, GET stream or handshake goes out; exchanges already in flight end as
//! they would, and one refused in turn waits with the rest. The refused request waits too
//! ("parked"), exactly where it would have been had it never been sent:
//!
//! - the handshake keeps its phase and goes again;
//! - a call's POST was refused before the server ran it: it goes again as a new request (new
//!   JSON-RPC id). A call whose server had already begun its stream was refused its
//!   resumption (a GET with `Last-Event-ID`): that GET goes again, so the server's running
//!   request is followed, not run a second time;
//! - a notification or response goes back to its queue; the session's GET stream waits to be
//!   reopened.
//!
//! Each refusal counts on its request: refused again after [`Retry::max_authorizations`] new
//! credentials in a row, a call fails with [`CallError::Unauthorized`], the handshake closes the
//! client with [`CloseReason::Unauthorized`], a post is dropped and the GET stream is given up
//! for the session. A request the server accepts (2xx) starts its own count over, and only its
//! own. A call's deadline and a post's keep running while they wait; the reconnect episode
//! ([`ClientTimeouts::reconnect`](super::ClientTimeouts::reconnect)) does not: it is paused for
//! the wait and resumes, with what was left of it, when the wait ends.
//!
//! [`Retry::max_authorizations`]: super::Retry::max_authorizations

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use super::entities::{CallState, ClientTimer, Owner, Phase, Purpose, Standalone, deadline_after};
use super::{CallError, CallId, Client, ClientConnId, ClientEvent, CloseReason, CommandError, Era};
use crate::http1::ResponseHeader;
use crate::invariant::InvariantViolation;
use crate::time::{Duration, Instant};

/// The longest challenge handed to the application.
const MAX_CHALLENGE: usize = 8 * 1024;

/// The gate's state: the credential, and whether the client waits for a new one. `Debug`
/// shows no credential.
#[derive(Default)]
pub(crate) struct Gate {
    /// The `Authorization` field value sent with every request; charged as held bytes.
    pub(crate) value: Option<String>,
    /// Waiting for credentials: the [`ClientTimer::Authorization`] timer runs.
    pub(crate) waiting: bool,
    /// Refusals of the current handshake (reset once it completes).
    pub(crate) handshake_refusals: u32,
    /// Refusals of the session's GET stream since it was last accepted.
    pub(crate) standalone_refusals: u32,
    /// The GET stream waits for credentials.
    pub(crate) standalone_parked: bool,
    /// What was left of the reconnect episode when the wait began: the wait does not count
    /// against reaching the server (a person may be signing in), so the episode is paused.
    pub(crate) episode_left: Option<Duration>,
}

impl core::fmt::Debug for Gate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gate")
            .field(
                "value",
                &self
                    .value
                    .as_ref()
                    .map(|v| alloc::format!("<{} bytes>", v.len())),
            )
            .field("waiting", &self.waiting)
            .field("handshake_refusals", &self.handshake_refusals)
            .field("standalone_refusals", &self.standalone_refusals)
            .field("standalone_parked", &self.standalone_parked)
            .field("episode_left", &self.episode_left)
            .finish()
    }
}

impl Gate {
    pub(crate) fn held_bytes(&self) -> usize {
        self.value.as_ref().map_or(0, String::len)
    }
}

impl Client {
    /// The `Authorization` header field value sent with every request from now on (such as
    /// `"Bearer abc"`), or `None` to send none. It replaces an `authorization` field of
    /// [`ClientConfig::headers`](super::ClientConfig::headers).
    ///
    /// The client only ever talks to its one configured server
    /// ([`ClientConfig::authority`](super::ClientConfig::authority); an HTTP+SSE `endpoint`
    /// naming another is refused), so the credential never goes elsewhere.
    ///
    /// While the client waits for credentials
    /// ([`ClientEvent::AuthorizationRequired`]), this ends the wait: the handshake (if
    /// pending) and every request parked by the gate go again, with this value.
    ///
    /// Refused with [`CommandError::InvalidHeader`] if the value holds CR, LF or NUL, with
    /// [`CommandError::TooLarge`] if it is longer than
    /// [`ClientLimits::max_authorization_bytes`](super::ClientLimits::max_authorization_bytes),
    /// with [`CommandError::Busy`] past `max_held_bytes`, and with [`CommandError::Closed`]
    /// once closing; a refused value changes nothing and ends no wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_core::client::{Client, ClientConfig, CommandError};
    /// use mcpwire_core::time::Instant;
    ///
    /// let config = ClientConfig::new("127.0.0.1:3000", "/mcp", "demo-client", "1.0.0");
    /// let mut client = Client::new(config, Instant::ZERO, [2; 32]);
    /// client.set_authorization(Instant::ZERO, Some("Bearer abc")).unwrap();
    /// let injected = client.set_authorization(Instant::ZERO, Some("Bearer a\r\nx-evil: 1"));
    /// assert_eq!(injected, Err(CommandError::InvalidHeader));
    /// ```
    pub fn set_authorization(
        &mut self,
        now: Instant,
        value: Option<&str>,
    ) -> Result<(), CommandError> {
        self.observe(now);
        self.accepting()?;
        if let Some(value) = value {
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return Err(CommandError::InvalidHeader);
            }
            if value.len() > self.config.limits.max_authorization_bytes {
                return Err(CommandError::TooLarge);
            }
        }
        let held = self.counters.held_bytes - self.gate.held_bytes() + value.map_or(0, str::len);
        if held > self.config.limits.max_held_bytes {
            return Err(CommandError::Busy);
        }
        self.gate.value = value.map(String::from);
        self.counters.held_bytes = self.held_bytes();
        if self.gate.waiting {
            self.end_wait();
            if self.handshaking() && !self.link.suspended {
                self.send_handshake();
            }
        }
        self.pump();
        Ok(())
    }

    /// The application could not get credentials; `why` names the step that failed. Every
    /// request parked by the gate fails with [`CallError::Unauthorized`]`(why)` (a parked post
    /// is dropped, a parked GET stream given up for the session); if the handshake has not
    /// completed, the client closes with [`CloseReason::Unauthorized`]`(why)`; otherwise it
    /// stays connected with its old credentials, and requests made meanwhile go with them.
    /// Does nothing unless the client waits for credentials
    /// ([`Client::is_awaiting_authorization`]).
    pub fn authorization_failed(&mut self, now: Instant, why: &str) {
        self.observe(now);
        if self.gate.waiting {
            self.give_up(why.into());
        }
    }

    /// Whether the client is waiting for credentials: from
    /// [`ClientEvent::AuthorizationRequired`] to [`Client::set_authorization`],
    /// [`Client::authorization_failed`], [`ClientTimeouts::authorization`](super::ClientTimeouts::authorization)
    /// or [`Client::close`].
    #[must_use]
    pub fn is_awaiting_authorization(&self) -> bool {
        self.gate.waiting
    }

    // ---- internals ----

    /// Whether the handshake has yet to complete.
    pub(crate) fn handshaking(&self) -> bool {
        matches!(
            self.link.phase,
            Phase::Opening | Phase::Discovering | Phase::Initializing | Phase::Acknowledging
        )
    }

    /// A complete (or broken) response with `head` ended the exchange of `purpose` on `conn`.
    /// Whether the gate dealt with it: a refusal for want of credentials parks what it was for
    /// (or fails it, past its limit). `false`: not such a refusal, or one that means nothing
    /// more than its status (the `DELETE` of a close).
    pub(crate) fn refused_for_credentials(
        &mut self,
        conn: ClientConnId,
        purpose: Purpose,
        head: &ResponseHeader,
    ) -> bool {
        let Some(status) = refusal_status(head) else {
            return false;
        };
        if matches!(self.link.phase, Phase::Closing | Phase::Closed) {
            return false;
        }
        let parked = match purpose {
            Purpose::Discover | Purpose::Initialize | Purpose::Initialized => {
                if !self.handshake_pending(purpose) {
                    return true;
                }
                self.park_handshake()
            }
            Purpose::Standalone if self.link.era == Some(Era::HttpSse) => {
                // The 2024-11-05 stream is the handshake's first step; once ready, its end is
                // the session's (`legacy_stream_ended`).
                if self.link.phase != Phase::Opening
                    || self.link.standalone != Standalone::Open(conn)
                {
                    return false;
                }
                self.link.standalone = Standalone::Off;
                self.park_handshake()
            }
            Purpose::Standalone => {
                if self.link.standalone != Standalone::Open(conn) {
                    return true;
                }
                self.park_standalone()
            }
            Purpose::Call(call) | Purpose::Resume(call) => {
                if self.calls.get(&call).map(|c| c.state) != Some(CallState::Sent(conn)) {
                    return true;
                }
                self.park_call(call, purpose)
            }
            Purpose::Post(post) => {
                if !self.posts.get(&post).is_some_and(|p| p.sent) {
                    return true;
                }
                self.park_post(post)
            }
            Purpose::Delete => return false,
        };
        if parked {
            self.open_gate(status, head);
        }
        true
    }

    /// A 2xx head for `purpose`: the server took its credentials, its refusals start over.
    pub(crate) fn credentials_accepted(&mut self, purpose: Purpose) {
        match purpose {
            Purpose::Call(call) | Purpose::Resume(call) => {
                if let Some(entry) = self.calls.get_mut(&call) {
                    entry.authorizations = 0;
                }
            }
            Purpose::Standalone if self.link.phase == Phase::Ready => {
                self.gate.standalone_refusals = 0;
            }
            _ => {}
        }
    }

    /// The handshake waits in its phase; the client closes past the limit.
    fn park_handshake(&mut self) -> bool {
        self.handshake_wire = 0;
        self.gate.handshake_refusals += 1;
        let max = self.config.retry.max_authorizations;
        if self.gate.handshake_refusals > max {
            self.shut_down(CloseReason::Unauthorized(still_refused(max)));
            return false;
        }
        true
    }

    /// The GET stream waits to be reopened; given up for the session past the limit.
    fn park_standalone(&mut self) -> bool {
        self.gate.standalone_refusals += 1;
        if self.gate.standalone_refusals > self.config.retry.max_authorizations {
            self.link.standalone = Standalone::Unavailable;
            return false;
        }
        self.link.standalone = Standalone::Waiting;
        self.gate.standalone_parked = true;
        true
    }

    /// The call waits in the queue; it fails past the limit.
    fn park_call(&mut self, call: CallId, purpose: Purpose) -> bool {
        let max = self.config.retry.max_authorizations;
        let Some(entry) = self.calls.get_mut(&call) else {
            return false;
        };
        entry.authorizations += 1;
        if entry.authorizations > max {
            self.fail_call(call, CallError::Unauthorized(still_refused(max)), false);
            return false;
        }
        if purpose == Purpose::Call(call) {
            // Refused before the server ran it (as `requeue_after_refusal` does for a 404):
            // it goes again as a new request.
            if entry.wire_id != 0 {
                self.by_wire.remove(&entry.wire_id);
                entry.wire_id = 0;
            }
            entry.resume = false;
        } else {
            // Its resumption was refused: the server runs the request (its stream had begun),
            // so the stream is resumed again, from the same event id, under the same wire id.
            entry.resume = true;
        }
        entry.state = CallState::Queued;
        entry.parked = true;
        self.queued.insert(call);
        true
    }

    /// The post goes back to its queue; dropped past the limit.
    fn park_post(&mut self, post: u64) -> bool {
        let Some(entry) = self.posts.get_mut(&post) else {
            return false;
        };
        entry.authorizations += 1;
        if entry.authorizations > self.config.retry.max_authorizations {
            self.counters.posts_dropped += 1;
            self.end_post(post);
            return false;
        }
        entry.sent = false;
        entry.parked = true;
        self.unsent_posts.insert(post);
        true
    }

    /// Starts the wait, unless it runs already: one event and one timer per wait.
    fn open_gate(&mut self, status: u16, head: &ResponseHeader) {
        if self.gate.waiting {
            return;
        }
        self.gate.waiting = true;
        self.counters.authorizations_required += 1;
        // A person may be signing in: that is no failure to reach the server, and its own
        // timer bounds it. The reconnect episode resumes where it was when the wait ends.
        if let Some(at) =
            self.timers
                .stop(&mut self.link.timers, Owner::Link, ClientTimer::Deadline)
        {
            self.gate.episode_left = Some(at.saturating_duration_since(self.now));
        }
        let deadline = deadline_after(self.now, self.config.timeouts.authorization);
        self.timers.set(
            &mut self.link.timers,
            Owner::Link,
            ClientTimer::Authorization,
            deadline,
        );
        self.events.push_back(ClientEvent::AuthorizationRequired {
            status,
            challenge: challenge(head),
        });
    }

    /// Ends the wait: its timer goes, and what it parked is parked no more (it goes, or has
    /// already failed).
    pub(crate) fn end_wait(&mut self) {
        self.gate.waiting = false;
        self.timers.stop(
            &mut self.link.timers,
            Owner::Link,
            ClientTimer::Authorization,
        );
        if let Some(left) = self.gate.episode_left.take() {
            let deadline = deadline_after(self.now, left);
            self.timers.set(
                &mut self.link.timers,
                Owner::Link,
                ClientTimer::Deadline,
                deadline,
            );
        }
        for call in self.calls.values_mut() {
            call.parked = false;
        }
        for post in self.posts.values_mut() {
            post.parked = false;
        }
        self.gate.standalone_parked = false;
    }

    /// No credentials came: what the gate parked fails, and a handshake not yet complete
    /// closes the client.
    fn give_up(&mut self, why: String) {
        self.counters.authorization_failures += 1;
        let calls: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.parked)
            .map(|(id, _)| *id)
            .collect();
        let posts: Vec<u64> = self
            .posts
            .iter()
            .filter(|(_, p)| p.parked)
            .map(|(id, _)| *id)
            .collect();
        let standalone = self.gate.standalone_parked;
        self.end_wait();
        for call in calls {
            self.fail_call(call, CallError::Unauthorized(why.clone()), false);
        }
        for post in posts {
            self.counters.posts_dropped += 1;
            self.end_post(post);
        }
        if standalone && self.link.standalone == Standalone::Waiting {
            self.link.standalone = Standalone::Unavailable;
        }
        if self.handshaking() {
            self.shut_down(CloseReason::Unauthorized(why));
            return;
        }
        self.pump();
    }

    /// [`ClientTimeouts::authorization`](super::ClientTimeouts::authorization) passed.
    pub(crate) fn authorization_timed_out(&mut self) {
        if self.gate.waiting {
            let secs = self.config.timeouts.authorization.as_secs();
            self.give_up(alloc::format!("no credentials within {secs} s"));
        }
    }

    /// The gate agrees with itself, its timer and what it parked.
    pub(crate) fn check_gate(&self) -> Result<(), InvariantViolation> {
        let fail = |message: String| Err(InvariantViolation::new(message));
        let max = self.config.retry.max_authorizations;
        let armed = self.link.timers.get(ClientTimer::Authorization).is_some();
        if armed != self.gate.waiting {
            return fail(alloc::format!(
                "waiting for credentials: {}, its timer armed: {armed}",
                self.gate.waiting
            ));
        }
        if self.gate.waiting && matches!(self.link.phase, Phase::Closing | Phase::Closed) {
            return fail("waiting for credentials while closing".into());
        }
        if self.gate.waiting && self.link.timers.get(ClientTimer::Deadline).is_some() {
            return fail("the reconnect episode runs while waiting for credentials".into());
        }
        if self.gate.episode_left.is_some() && !self.gate.waiting {
            return fail("a reconnect episode paused with no wait".into());
        }
        if self.link.phase == Phase::Closed && self.gate.value.is_some() {
            return fail("closed but holding a credential".into());
        }
        for (id, call) in &self.calls {
            if call.parked && (!self.gate.waiting || call.state != CallState::Queued) {
                return fail(alloc::format!(
                    "{id} is parked ({:?}) with the gate waiting: {}",
                    call.state,
                    self.gate.waiting
                ));
            }
            if call.authorizations > max {
                return fail(alloc::format!("{id} refused {} times", call.authorizations));
            }
        }
        for (id, post) in &self.posts {
            if post.parked && (!self.gate.waiting || post.sent) {
                return fail(alloc::format!(
                    "post {id} is parked but sent or not waiting"
                ));
            }
            if post.authorizations > max {
                return fail(alloc::format!(
                    "post {id} refused {} times",
                    post.authorizations
                ));
            }
        }
        if self.gate.standalone_parked
            && (!self.gate.waiting || self.link.standalone != Standalone::Waiting)
        {
            return fail(alloc::format!(
                "the GET stream is parked but {:?}",
                self.link.standalone
            ));
        }
        if self.gate.handshake_refusals > max || self.gate.standalone_refusals > max {
            return fail("refused past max_authorizations".into());
        }
        if let Some(value) = &self.gate.value {
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return fail("the credential holds CR, LF or NUL".into());
            }
        }
        Ok(())
    }
}

fn still_refused(max: u32) -> String {
    alloc::format!("still refused after {max} authorizations")
}

/// The status of `head` if it refuses for want of credentials: 401, or 403 with a Bearer
/// challenge whose `error` is `insufficient_scope`.
pub(crate) fn refusal_status(head: &ResponseHeader) -> Option<u16> {
    match head.status() {
        401 => Some(401),
        403 if challenges(head).any(|v| insufficient_scope(&v)) => Some(403),
        _ => None,
    }
}

fn challenges(head: &ResponseHeader) -> impl Iterator<Item = Cow<'_, str>> {
    head.headers()
        .filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, value)| String::from_utf8_lossy(value))
}

/// Every `WWW-Authenticate` value of `head`, joined with ", ", cut to [`MAX_CHALLENGE`] at a
/// char boundary.
fn challenge(head: &ResponseHeader) -> String {
    let mut out = String::new();
    for value in challenges(head) {
        if out.len() > MAX_CHALLENGE {
            break;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(value.trim());
    }
    if out.len() > MAX_CHALLENGE {
        let mut at = MAX_CHALLENGE;
        while !out.is_char_boundary(at) {
            at -= 1;
        }
        out.truncate(at);
    }
    out
}

const WS: [char; 2] = [' ', '\t'];

/// Whether a `WWW-Authenticate` value holds a Bearer challenge (scheme case-insensitive) whose
/// `error` auth-param (token or quoted-string) is `insufficient_scope` (RFC 6750 section 3.1).
///
/// Only as much of RFC 9110's challenge syntax as that needs: the value is split at commas
/// outside quoted strings; an element that starts with a token not followed by `=` starts a
/// new challenge (its scheme), and what follows the scheme, or the whole element otherwise,
/// is one `name = value` parameter of the current challenge.
pub(crate) fn insufficient_scope(value: &str) -> bool {
    let mut bearer = false;
    for element in elements(value) {
        let element = element.trim_matches(WS);
        let (token, rest) = split_token(element);
        if token.is_empty() {
            continue;
        }
        let rest = rest.trim_start_matches(WS);
        let param = if rest.starts_with('=') {
            element
        } else {
            bearer = token.eq_ignore_ascii_case("bearer");
            rest
        };
        if !bearer {
            continue;
        }
        if let Some((name, value)) = auth_param(param) {
            if name.eq_ignore_ascii_case("error") && value == "insufficient_scope" {
                return true;
            }
        }
    }
    false
}

/// `value` split at commas outside quoted strings.
fn elements(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut quoted, mut escaped) = (false, false);
        let mut end = rest.len();
        for (at, c) in rest.char_indices() {
            if escaped {
                escaped = false;
            } else if quoted && c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = !quoted;
            } else if c == ',' && !quoted {
                end = at;
                break;
            }
        }
        let element = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        Some(element)
    })
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A leading token of `s`, and what follows it.
fn split_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_tchar(c)).unwrap_or(s.len());
    s.split_at(end)
}

/// `name BWS "=" BWS ( token / quoted-string )` at the start of `s`.
fn auth_param(s: &str) -> Option<(&str, Cow<'_, str>)> {
    let (name, rest) = split_token(s);
    if name.is_empty() {
        return None;
    }
    let rest = rest.trim_start_matches(WS).strip_prefix('=')?;
    let rest = rest.trim_start_matches(WS);
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut escaped = false;
        for c in quoted.chars() {
            if escaped {
                value.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                return Some((name, Cow::Owned(value)));
            } else {
                value.push(c);
            }
        }
        return None;
    }
    let (token, _) = split_token(rest);
    (!token.is_empty()).then_some((name, Cow::Borrowed(token)))
}

#[cfg(test)]
mod tests {
    use super::insufficient_scope;

    #[test]
    fn insufficient_scope_is_found_in_any_bearer_challenge_form() {
        for value in [
            r#"Bearer error="insufficient_scope", scope="files:read""#,
            r#"bearer scope="a b", error=insufficient_scope"#,
            r#"BEARER realm="x, y", error = "insufficient_scope""#,
            r#"Basic realm="a", Bearer error="insufficient_scope""#,
            r#"Bearer error="insufficient\_scope""#,
        ] {
            assert!(insufficient_scope(value), "{value}");
        }
        for value in [
            "",
            r#"Bearer error="invalid_token""#,
            r#"Basic error="insufficient_scope""#,
            r#"Bearer realm="error=insufficient_scope""#,
            r#"Bearer scope="x", Basic error="insufficient_scope""#,
            r#"Bearer error="insufficient_scope"#,
            r#"Bearerx error="insufficient_scope""#,
            r#"Bearer error="INSUFFICIENT_SCOPE""#,
            "Bearer error=",
            "\u{e9}\u{e9}, ,,=,\"",
        ] {
            assert!(!insufficient_scope(value), "{value}");
        }
    }
}
