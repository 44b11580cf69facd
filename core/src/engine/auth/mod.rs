//! The engine as an OAuth 2.1 resource server (the MCP specification's Authorization, every
//! revision since 2025-06-18; RFC 6750 bearer tokens, RFC 9728 protected resource metadata).
//!
//! With [`Config::auth`] set, the router asks this module once per request, before either era
//! sees it:
//!
//! - the metadata document is served at its path-aware well-known path and at the root one,
//!   to anyone (it is how a client learns where to get a token);
//! - every request for the MCP endpoint or the HTTP+SSE endpoints needs
//!   `Authorization: Bearer <token>`: without one, `401` with a challenge naming the metadata
//!   document; a token in the query string, or two `Authorization` fields, `400`;
//! - a token is verified by the application, never by the engine: the request waits while
//!   [`Event::VerifyToken`] asks, until [`Engine::token_verified`] answers or
//!   `Timeouts::token_verification` passes (`503`, `Retry-After`). A verdict that grants
//!   access is cached (see `verification.rs`), so that a client's next requests go through at
//!   once;
//! - a granted token without the scopes the request needs gets `403` with
//!   `error="insufficient_scope"` and the scopes to ask for (step-up): those every request
//!   needs at the gate, a method's or a tool's once the body is read.
//!
//! What the eras see is the grant's principal: it binds sessions (a token of another principal
//! gets `404`), and the input-required states of 2026-07-28.
//!
//! [`Config::auth`]: super::Config::auth
//! [`Event::VerifyToken`]: super::Event::VerifyToken

mod challenge;
mod resource;
mod verification;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

pub use resource::{InvalidUrl, ResourceServer};
pub use verification::{Grant, Verdict};

pub(crate) use verification::{Granted, Verifications};

use self::challenge::Challenge;
use super::Engine;
use super::budget::Holding;
use super::events::CommandError;
use super::ids::{ExchangeId, VerificationId};
use crate::http1::{Method, Request};
use crate::jsonrpc::{ErrorCode, InvalidMessage, Message};
use crate::time::Instant;

/// What the gate decided about a request.
pub(super) enum Gate {
    /// It may go on, with the grant its token carries (none when no resource is configured).
    Through(Request),
    /// It is answered, or waits for its token's verdict.
    Held,
}

impl Engine {
    /// Whether `path` is one the resource server answers itself: the metadata document.
    pub(super) fn serves_metadata(&self, path: &str) -> bool {
        self.config
            .auth
            .as_ref()
            .is_some_and(|auth| path == resource::WELL_KNOWN || path == auth.metadata_path())
    }

    /// Answers a request for the metadata document.
    pub(super) fn serve_metadata(&mut self, exchange: ExchangeId, request: &Request) {
        let Some(auth) = self.config.auth.as_ref() else {
            return;
        };
        if !matches!(request.method(), Method::Get | Method::Head) {
            return self.method_not_allowed(exchange, "GET");
        }
        let document = challenge::metadata_document(auth);
        self.send_full(
            exchange,
            200,
            &[
                ("content-type", "application/json"),
                // A client in a browser reads it from another origin.
                ("access-control-allow-origin", "*"),
                ("cache-control", "max-age=3600"),
            ],
            document.as_bytes(),
        );
    }

    /// Lets a request for a protected path through, with its grant, or answers it, or holds
    /// it while its token is verified.
    pub(super) fn gate(&mut self, exchange: ExchangeId, request: Request) -> Gate {
        if self.config.auth.is_none() {
            return Gate::Through(request);
        }
        let token = match bearer_of(&request, self.config.limits.max_token_bytes) {
            Ok(token) => token,
            Err(challenge) => return self.challenge(exchange, challenge),
        };
        let digest = verification::digest(token);
        let token_len = token.len();
        let now = self.now();
        if let Some(granted) = self.verifications.grant(&digest, now) {
            return self.admit_granted(exchange, request, granted);
        }
        let held = request.heap_bytes();
        if let Some(pending) = self.verifications.pending_for(&digest) {
            // The same token is being verified for another request: wait for that verdict.
            if self.admits(None, held).is_err() {
                return self.refuse_unavailable(exchange, "the server holds too much");
            }
            if let Some(p) = self.verifications.pending.get_mut(pending) {
                p.waiters.push(exchange);
            }
            self.hold(exchange, pending, request, held);
            return Gate::Held;
        }
        if self.shutdown_deadline.is_some() {
            return self.refuse_unavailable(exchange, "shutting down");
        }
        if self.verifications.pending.len() >= self.config.limits.max_pending_verifications
            || self.events_full()
        {
            self.counters.verifications_refused += 1;
            return self.refuse_unavailable(exchange, "too many tokens are being verified");
        }
        let cost = verification::PENDING_BYTES + token_len;
        if self.admits(None, held + cost).is_err() {
            return self.refuse_unavailable(exchange, "the server holds too much");
        }
        // Read again, owned: the request goes to its exchange to wait.
        let token = bearer_of(&request, usize::MAX).map_or_else(|_| String::new(), String::from);
        let deadline = now + self.config.timeouts.token_verification;
        let id = self.verifications.start(digest, exchange, cost, deadline);
        self.charge(Holding::Requests, None, cost);
        self.counters.verifications_requested += 1;
        self.hold(exchange, id, request, held);
        self.emit(super::Event::VerifyToken {
            verification: id,
            token,
        });
        Gate::Held
    }

    /// The application's verdict on a token. A grant is cached; every request waiting for it
    /// goes on (or gets its `401`, `403` or `503`).
    ///
    /// # Errors
    ///
    /// [`CommandError::StaleHandle`] when the verification is over: it timed out (its
    /// requests got `503`), or the engine shut down.
    pub fn token_verified(
        &mut self,
        now: Instant,
        verification: VerificationId,
        verdict: Verdict,
    ) -> Result<(), CommandError> {
        let now = self.tick(now);
        let pending = self
            .verifications
            .finish(verification)
            .ok_or(CommandError::StaleHandle)?;
        self.release(Holding::Requests, None, pending.held);
        let granted = match verdict {
            Verdict::Granted(grant) if grant.valid_for == Some(crate::time::Duration::ZERO) => {
                // Granted with no time left: expired, whatever the application thought.
                self.counters.tokens_refused += 1;
                Err(Some(String::from("the token has expired")))
            }
            Verdict::Granted(grant) => {
                self.counters.tokens_granted += 1;
                let ttl = self.config.timeouts.grant_cache;
                let lifetime = grant.valid_for.map_or(ttl, |v| v.min(ttl));
                let granted = Arc::new(Granted {
                    principal: grant.principal,
                    scopes: grant.scopes,
                    expires: now + lifetime,
                });
                if lifetime > crate::time::Duration::ZERO {
                    let max = self.config.limits.max_cached_grants;
                    let (released, charged) =
                        self.verifications
                            .cache(pending.digest, granted.clone(), max);
                    self.release(Holding::Session, None, released);
                    self.charge(Holding::Session, None, charged);
                }
                Ok(granted)
            }
            Verdict::Refused(why) => {
                self.counters.tokens_refused += 1;
                Err(Some(why))
            }
            Verdict::Unavailable => Err(None),
        };
        for waiter in pending.waiters {
            let Some(request) = self.unhold(waiter) else {
                continue;
            };
            match &granted {
                Ok(granted) => {
                    if let Gate::Through(request) =
                        self.admit_granted(waiter, request, granted.clone())
                    {
                        self.route_protected(waiter, request);
                    }
                }
                Err(Some(why)) => {
                    let _ = self.challenge(waiter, Challenge::InvalidToken(why));
                }
                Err(None) => {
                    let _ = self.refuse_unavailable(waiter, "the token could not be verified");
                }
            }
        }
        self.settle();
        Ok(())
    }

    /// A verification the application did not answer in time: its requests get `503`.
    pub(super) fn verification_timeout(&mut self, verification: VerificationId) {
        #[cfg(feature = "sim-faults")]
        if self.config.faults.verification_forgotten {
            return;
        }
        let Some(pending) = self.verifications.finish(verification) else {
            return;
        };
        self.counters.verification_timeouts += 1;
        self.release(Holding::Requests, None, pending.held);
        self.emit(super::Event::VerificationCancelled { verification });
        for waiter in pending.waiters {
            if self.unhold(waiter).is_some() {
                let _ = self.refuse_unavailable(waiter, "the token was not verified in time");
            }
        }
    }

    /// Ends every verification (the engine shuts down): their requests get `503`.
    pub(super) fn end_verifications(&mut self) {
        let ids: Vec<VerificationId> = self.verifications.pending.keys().collect();
        for id in ids {
            let Some(pending) = self.verifications.finish(id) else {
                continue;
            };
            self.release(Holding::Requests, None, pending.held);
            self.emit(super::Event::VerificationCancelled { verification: id });
            for waiter in pending.waiters {
                if self.unhold(waiter).is_some() {
                    let _ = self.refuse_unavailable(waiter, "shutting down");
                }
            }
        }
    }

    /// Every token verification under way: the application owes each a verdict.
    pub fn pending_verifications(&self) -> impl Iterator<Item = VerificationId> + '_ {
        self.verifications.pending.keys()
    }

    /// Drops the grants whose time is up.
    pub(super) fn expire_grants(&mut self, now: Instant) {
        let released = self.verifications.expire_grants(now);
        self.release(Holding::Session, None, released);
    }

    /// A request whose token is granted: through, unless it lacks a scope every request
    /// needs.
    fn admit_granted(
        &mut self,
        exchange: ExchangeId,
        request: Request,
        granted: Arc<Granted>,
    ) -> Gate {
        let required = self.config.auth.as_ref().map_or(&[][..], |a| a.required());
        if !required.iter().all(|s| granted.scopes.contains(s)) {
            let required: Vec<String> = required.to_vec();
            let required: Vec<&str> = required.iter().map(String::as_str).collect();
            return self.challenge(exchange, Challenge::InsufficientScope(&required));
        }
        if let Some(ex) = self.exchanges.get_mut(exchange) {
            ex.grant = Some(granted);
        }
        Gate::Through(request)
    }

    /// Keeps `request` on its exchange while `verification` runs.
    fn hold(
        &mut self,
        exchange: ExchangeId,
        verification: VerificationId,
        request: Request,
        held: usize,
    ) {
        let Some(ex) = self.exchanges.get_mut(exchange) else {
            return;
        };
        ex.awaiting = Some(Box::new((verification, request)));
        ex.application_bytes += held;
        self.charge(Holding::Requests, None, held);
    }

    /// Takes back the request an exchange held for its verdict, if the exchange is still there.
    fn unhold(&mut self, exchange: ExchangeId) -> Option<Request> {
        let ex = self.exchanges.get_mut(exchange)?;
        let (_, request) = *ex.awaiting.take()?;
        let held = request.heap_bytes();
        ex.application_bytes -= held;
        self.release(Holding::Requests, None, held);
        Some(request)
    }

    /// An exchange that ends while its request waits for a verdict leaves the waiters; the
    /// last one to leave ends the verification, so that a client that sends tokens and
    /// hangs up cannot keep the slots of `Limits::max_pending_verifications` for others.
    pub(super) fn leave_verification(
        &mut self,
        exchange: ExchangeId,
        verification: VerificationId,
    ) {
        if !self.verifications.leave(verification, exchange) {
            return;
        }
        if let Some(pending) = self.verifications.finish(verification) {
            self.counters.verifications_abandoned += 1;
            self.release(Holding::Requests, None, pending.held);
            self.emit(super::Event::VerificationCancelled { verification });
        }
    }

    fn refuse_unavailable(&mut self, exchange: ExchangeId, why: &str) -> Gate {
        self.unavailable(exchange, None, why);
        Gate::Held
    }

    fn challenge(&mut self, exchange: ExchangeId, challenge: Challenge<'_>) -> Gate {
        let Some(auth) = self.config.auth.as_ref() else {
            return Gate::Held;
        };
        let header = challenge.header(auth);
        self.counters.auth_challenges += 1;
        self.reject_with(
            exchange,
            None,
            challenge.status(),
            ErrorCode::SERVER_ERROR,
            &challenge.message(),
            &[("www-authenticate", &header)],
        );
        Gate::Held
    }

    /// The scopes the messages of a body need that the exchange's grant lacks; answers `403`
    /// when there are any. `true` when the body may go on.
    pub(super) fn scopes_suffice(
        &mut self,
        exchange: ExchangeId,
        messages: &[Result<Message, InvalidMessage>],
    ) -> bool {
        let Some(auth) = self.config.auth.as_ref() else {
            return true;
        };
        let Some(granted) = self.exchanges.get(exchange).and_then(|e| e.grant.clone()) else {
            return true;
        };
        let mut needed: Vec<&str> = Vec::new();
        for message in messages {
            let (method, params) = match message {
                Ok(Message::Request(r)) => (r.method.as_str(), r.params.as_deref()),
                Ok(Message::Notification(n)) => (n.method.as_str(), n.params.as_deref()),
                _ => continue,
            };
            let named = named_in(method, params);
            let mut scopes = auth.scopes_for(method, named.as_deref());
            if method == "subscriptions/listen" {
                // A listen stream subscribes to resources as `resources/subscribe` did: it
                // needs what subscribing to each of them needs.
                for uri in super::modern::listen::listened_uris(params) {
                    scopes.extend(auth.scopes_for("resources/subscribe", Some(&uri)));
                }
                scopes.sort_unstable();
                scopes.dedup();
            }
            if !granted.missing(&scopes).is_empty() {
                needed.extend(scopes);
            }
        }
        if needed.is_empty() {
            return true;
        }
        needed.sort_unstable();
        needed.dedup();
        let needed: Vec<String> = needed.into_iter().map(String::from).collect();
        let needed: Vec<&str> = needed.iter().map(String::as_str).collect();
        let _ = self.challenge(exchange, Challenge::InsufficientScope(&needed));
        false
    }

    /// Who the request is from, for what sessions and states are bound to: the principal of
    /// its grant when a resource server is configured, else the `Config::session_binding`
    /// header's value.
    pub(super) fn identity(&self, exchange: ExchangeId, request: &Request) -> Option<Box<[u8]>> {
        if self.config.auth.is_some() {
            let ex = self.exchanges.get(exchange)?;
            return ex.grant.as_ref().map(|g| Box::from(g.principal.as_bytes()));
        }
        let name = self.config.session_binding.as_deref()?;
        request.header(name).map(Box::from)
    }
}

/// The bearer token of a request, or the challenge that answers it: a token in the query, two
/// `Authorization` fields (`400`), none or another scheme (`401`), a malformed or too long one
/// (`401`, `invalid_token`).
fn bearer_of(request: &Request, max: usize) -> Result<&str, Challenge<'static>> {
    let in_query = request.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p.split('=').next() == Some("access_token"))
    });
    if in_query {
        return Err(Challenge::InvalidRequest(
            "a token is never accepted in the query string",
        ));
    }
    let mut fields = request.header_values("authorization");
    let field = match (fields.next(), fields.next()) {
        (Some(field), None) => field,
        (None, _) => return Err(Challenge::NoToken),
        (Some(_), Some(_)) => {
            return Err(Challenge::InvalidRequest(
                "the Authorization field appears more than once",
            ));
        }
    };
    let token = bearer_token(field).ok_or(Challenge::NoToken)?;
    if token.is_empty() || !token.bytes().all(is_token68) {
        return Err(Challenge::InvalidToken("the token is malformed"));
    }
    if token.len() > max {
        return Err(Challenge::InvalidToken("the token is too long"));
    }
    Ok(token)
}

/// The token of an `Authorization: Bearer <token>` field (the scheme in any case), if it is
/// one.
fn bearer_token(field: &[u8]) -> Option<&str> {
    let field = core::str::from_utf8(field).ok()?;
    let (scheme, token) = field.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

/// `token68` (RFC 9110 §11.2): the characters a bearer token is written in.
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// What a request names, for the scopes its method needs on that name: a tool's or a
/// prompt's name, a resource's URI. `None` when that cannot be told for certain (params that
/// are not an object, a member that is not a string, one given twice, none at all): the
/// application may read such params otherwise than here (a JSON array as a struct, the last
/// of two members), so every rule on a name of the method applies.
fn named_in(method: &str, params: Option<&serde_json::value::RawValue>) -> Option<String> {
    let member = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
        _ => return None,
    };
    let mut de = serde_json::Deserializer::from_str(params?.get());
    let named = serde::Deserializer::deserialize_map(&mut de, NamedMember { member }).ok()?;
    de.end().ok()?;
    named
}

/// Reads one object for the single string value of `member` (`None` inside when there is no
/// such value for certain).
struct NamedMember {
    member: &'static str,
}

impl<'de> serde::de::Visitor<'de> for NamedMember {
    type Value = Option<String>;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found: Option<Option<String>> = None;
        while let Some(key) = map.next_key::<alloc::borrow::Cow<'de, str>>()? {
            if key != self.member {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let value = map.next_value::<serde_json::Value>()?;
            found = Some(match (found, value) {
                (None, serde_json::Value::String(name)) => Some(name),
                _ => None,
            });
        }
        Ok(found.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_in_any_case_of_the_scheme() {
        assert_eq!(bearer_token(b"Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer_token(b"bearer  abc"), Some("abc"));
        assert_eq!(bearer_token(b"Basic YWxh"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert!(!"a b".bytes().all(is_token68));
        assert!("eyJ0eXAi.eyJ-_.sig==".bytes().all(is_token68));
    }

    #[test]
    fn requests_name_what_scopes_apply_to() {
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.into()).unwrap();
        let call = raw(r#"{"name":"wipe","arguments":{}}"#);
        assert_eq!(named_in("tools/call", Some(&call)).as_deref(), Some("wipe"));
        let read = raw(r#"{"uri":"file:///x"}"#);
        assert_eq!(
            named_in("resources/read", Some(&read)).as_deref(),
            Some("file:///x")
        );
        assert_eq!(named_in("tools/list", Some(&call)), None);
        assert_eq!(named_in("tools/call", None), None);
        // Whatever else the params hold, the name is read.
        let noisy = raw(r#"{"uri":1,"arguments":{"name":"x"},"name":"wipe"}"#);
        assert_eq!(
            named_in("tools/call", Some(&noisy)).as_deref(),
            Some("wipe")
        );
        let escaped = raw(r#"{"na\u006de":"wipe"}"#);
        assert_eq!(
            named_in("tools/call", Some(&escaped)).as_deref(),
            Some("wipe")
        );
        // Shapes an application may read otherwise name nothing for certain.
        for params in [
            r#"["wipe"]"#,
            r#"{"name":"echo","name":"wipe"}"#,
            r#"{"name":"wipe","na\u006de":"echo"}"#,
            r#"{"name":1}"#,
            r#"{"name":null}"#,
            r#"{}"#,
            r#""wipe""#,
        ] {
            assert_eq!(named_in("tools/call", Some(&raw(params))), None, "{params}");
        }
    }
}
