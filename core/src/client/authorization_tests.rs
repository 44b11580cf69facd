//! The authorization gate against a scripted server: a 401 (or a step-up 403) parks what it
//! refused until the application brings credentials, fails it when none come, and nothing
//! waits past the client, its own deadline or the gate's.
extern crate std;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::scripted_tests::{
    Raw, Req, chunk, empty, handshake, json, modern_ready, result, sessions_config, sse_head,
};
use super::*;

const CHALLENGE: &str = r#"Bearer resource_metadata="http://h:1/.well-known/oauth-protected-resource/mcp", scope="tools""#;
const STEP_UP: &str = r#"Bearer error="insufficient_scope", scope="tools:write""#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Modern,
    Sessions,
}

const BOTH: [Mode; 2] = [Mode::Modern, Mode::Sessions];

fn config(mode: Mode) -> ClientConfig {
    match mode {
        Mode::Modern => {
            let mut c = ClientConfig::new("h:1", "/mcp", "c", "1");
            c.era = EraChoice::Modern;
            c
        }
        Mode::Sessions => sessions_config(),
    }
}

/// A connected client; in the session era its GET stream is open (and quiet).
fn ready(mode: Mode) -> Raw {
    let mut net = Raw::new(config(mode));
    match mode {
        Mode::Modern => modern_ready(&mut net),
        Mode::Sessions => {
            let get = handshake(&mut net).remove(0);
            assert_eq!(get.method, "GET");
            net.reply(get.conn, &sse_head(""));
            net.flush();
        }
    }
    net.events.clear();
    net
}

fn refused(status: &str, challenge: &str) -> String {
    empty(status, &format!("www-authenticate: {challenge}\r\n"))
}

fn unauthorized() -> String {
    refused("401 Unauthorized", CHALLENGE)
}

fn params() -> Box<RawValue> {
    RawValue::from_string(r#"{"name":"charge_card","arguments":{}}"#.into()).unwrap()
}

fn call(net: &mut Raw, timeout: Option<Duration>) -> CallId {
    let options = CallOptions {
        timeout,
        ..CallOptions::default()
    };
    let now = net.now;
    net.client
        .request(now, "tools/call", Some(&params()), options)
        .unwrap()
}

fn only(reqs: Vec<Req>, method: &str) -> Req {
    let mut found: Vec<Req> = reqs
        .into_iter()
        .filter(|r| r.rpc_method().as_deref() == Some(method))
        .collect();
    assert_eq!(found.len(), 1, "one {method}");
    found.remove(0)
}

fn required(net: &mut Raw) -> Vec<(u16, String)> {
    let mut seen = Vec::new();
    net.events.retain(|e| match e {
        ClientEvent::AuthorizationRequired { status, challenge } => {
            seen.push((*status, challenge.clone()));
            false
        }
        _ => true,
    });
    seen
}

fn outcome(net: &Raw, call: CallId) -> Option<Result<String, CallError>> {
    net.events.iter().find_map(|e| match e {
        ClientEvent::Response { call: c, result } if *c == call => Some(Ok(result.get().into())),
        ClientEvent::Failed { call: c, error } if *c == call => Some(Err(error.clone())),
        _ => None,
    })
}

fn closed(net: &Raw) -> Option<CloseReason> {
    net.events.iter().find_map(|e| match e {
        ClientEvent::Closed { reason } => Some(reason.clone()),
        _ => None,
    })
}

fn connected(net: &Raw) -> bool {
    net.events
        .iter()
        .any(|e| matches!(e, ClientEvent::Connected { .. }))
}

/// The first handshake request of `mode` (`server/discover` or `initialize`).
fn first_step(mode: Mode) -> &'static str {
    match mode {
        Mode::Modern => "server/discover",
        Mode::Sessions => "initialize",
    }
}

/// Answers the handshake's first request and, in the session era, its acknowledgment; checks
/// each carries `Authorization: {token}`.
fn complete_handshake(net: &mut Raw, mode: Mode, first: Req, token: &str) {
    assert_eq!(first.header("authorization"), Some(token));
    let id = first.rpc_id().unwrap();
    match mode {
        Mode::Modern => net.reply(
            first.conn,
            &json(
                "200 OK",
                &result(id, r#"{"supportedVersions":["2026-07-28"]}"#),
                "",
            ),
        ),
        Mode::Sessions => {
            net.reply(
                first.conn,
                &json(
                    "200 OK",
                    &result(id, r#"{"protocolVersion":"2025-11-25"}"#),
                    "mcp-session-id: s1\r\n",
                ),
            );
            let ack = only(net.flush(), "notifications/initialized");
            assert_eq!(ack.header("authorization"), Some(token));
            net.reply(ack.conn, &empty("202 Accepted", ""));
        }
    }
    let rest = net.flush();
    assert!(
        rest.iter()
            .all(|r| r.header("authorization") == Some(token)),
        "every request carries the credential"
    );
    assert!(net.client.is_connected());
    assert!(connected(net));
}

// ---------------------------------------------------------------------------------------

#[test]
fn a_401_on_the_handshake_waits_for_credentials_then_connects() {
    for mode in BOTH {
        let mut net = Raw::new(config(mode));
        let first = only(net.flush(), first_step(mode));
        assert_eq!(first.header("authorization"), None);
        net.reply(first.conn, &unauthorized());
        assert!(net.flush().is_empty());
        assert_eq!(required(&mut net), [(401, CHALLENGE.to_string())]);
        assert!(net.client.is_awaiting_authorization());
        // Nothing goes while it waits, however long (within the wait), and the reconnect
        // episode does not end it: a person may be signing in.
        for _ in 0..12 {
            net.advance(10_000);
            assert!(net.flush().is_empty(), "{mode:?}: sent while waiting");
        }
        assert!(!net.client.is_closed());
        // A request made meanwhile waits too.
        let pending = call(&mut net, Some(Duration::from_secs(600)));
        assert!(net.flush().is_empty());
        net.client
            .set_authorization(net.now, Some("Bearer t1"))
            .unwrap();
        assert!(!net.client.is_awaiting_authorization());
        let first = only(net.flush(), first_step(mode));
        complete_handshake(&mut net, mode, first, "Bearer t1");
        assert!(required(&mut net).is_empty(), "one event per wait");
        let stats = net.client.stats();
        assert_eq!(stats.authorizations_required_total, 1);
        assert_eq!(stats.authorization_failures_total, 0);
        assert!(outcome(&net, pending).is_none());
    }
}

#[test]
fn a_401_on_a_call_parks_it_and_the_same_request_goes_again_with_the_credential() {
    for mode in BOTH {
        let mut net = ready(mode);
        let refused_call = call(&mut net, None);
        let post = only(net.flush(), "tools/call");
        assert_eq!(post.header("authorization"), None);
        // A JSON-RPC error in the 401's body answers nothing: the call waits.
        let error = format!(
            r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32001,"message":"unauthorized"}}}}"#,
            post.rpc_id().unwrap()
        );
        net.reply(
            post.conn,
            &json(
                "401 Unauthorized",
                &error,
                &format!("www-authenticate: {CHALLENGE}\r\n"),
            ),
        );
        assert!(net.flush().is_empty());
        assert_eq!(required(&mut net), [(401, CHALLENGE.to_string())]);
        assert!(outcome(&net, refused_call).is_none(), "{mode:?}");
        let later = call(&mut net, None);
        assert!(net.flush().is_empty(), "nothing starts while waiting");
        net.client
            .set_authorization(net.now, Some("Bearer t1"))
            .unwrap();
        let reqs = net.flush();
        assert_eq!(reqs.len(), 2, "{mode:?}");
        for req in reqs {
            assert_eq!(req.header("authorization"), Some("Bearer t1"));
            let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
            assert_eq!(body["params"]["name"], "charge_card");
            assert_ne!(req.rpc_id(), post.rpc_id(), "a new JSON-RPC id");
            let id = req.rpc_id().unwrap();
            net.reply(req.conn, &json("200 OK", &result(id, r#"{"ok":1}"#), ""));
        }
        net.flush();
        assert!(matches!(outcome(&net, refused_call), Some(Ok(_))));
        assert!(matches!(outcome(&net, later), Some(Ok(_))));
        assert!(required(&mut net).is_empty());
    }
}

#[test]
fn a_step_up_403_parks_the_call_like_a_401() {
    for mode in BOTH {
        let mut net = ready(mode);
        net.client
            .set_authorization(net.now, Some("Bearer narrow"))
            .unwrap();
        let id = call(&mut net, None);
        let post = only(net.flush(), "tools/call");
        assert_eq!(post.header("authorization"), Some("Bearer narrow"));
        net.reply(post.conn, &refused("403 Forbidden", STEP_UP));
        assert!(net.flush().is_empty());
        assert_eq!(required(&mut net), [(403, STEP_UP.to_string())]);
        net.client
            .set_authorization(net.now, Some("Bearer wide"))
            .unwrap();
        let again = only(net.flush(), "tools/call");
        assert_eq!(again.header("authorization"), Some("Bearer wide"));
        let wire = again.rpc_id().unwrap();
        net.reply(again.conn, &json("200 OK", &result(wire, "{}"), ""));
        net.flush();
        assert!(matches!(outcome(&net, id), Some(Ok(_))), "{mode:?}");
    }
}

#[test]
fn a_plain_403_fails_the_call_as_before() {
    for mode in BOTH {
        for challenge in [None, Some(r#"Bearer error="invalid_token""#)] {
            let mut net = ready(mode);
            let id = call(&mut net, None);
            let post = only(net.flush(), "tools/call");
            let response = match challenge {
                Some(challenge) => refused("403 Forbidden", challenge),
                None => empty("403 Forbidden", ""),
            };
            net.reply(post.conn, &response);
            net.flush();
            assert!(required(&mut net).is_empty());
            assert!(!net.client.is_awaiting_authorization());
            assert!(
                matches!(outcome(&net, id), Some(Err(CallError::Http(403)))),
                "{mode:?} {challenge:?}"
            );
        }
    }
}

#[test]
fn a_plain_403_on_the_handshake_still_closes_as_refused() {
    for mode in BOTH {
        let mut net = Raw::new(config(mode));
        let first = only(net.flush(), first_step(mode));
        net.reply(first.conn, &empty("403 Forbidden", ""));
        net.flush();
        assert!(required(&mut net).is_empty());
        assert_eq!(closed(&net), Some(CloseReason::Refused(403)), "{mode:?}");
        assert!(!net.client.is_awaiting_authorization());
    }
}

/// Refused `refusals` times, each after a new credential but the first: answered after at
/// most `max_authorizations` new credentials, failed when refused once more.
fn call_refused(mode: Mode, refusals: u32) -> (Raw, CallId) {
    let mut net = ready(mode);
    let id = call(&mut net, Some(Duration::from_secs(3600)));
    let mut req = only(net.flush(), "tools/call");
    for n in 0..refusals {
        net.reply(req.conn, &unauthorized());
        assert!(net.flush().is_empty());
        if outcome(&net, id).is_some() {
            return (net, id);
        }
        assert_eq!(required(&mut net).len(), 1, "one event per wait");
        net.client
            .set_authorization(net.now, Some(&format!("Bearer t{n}")))
            .unwrap();
        req = only(net.flush(), "tools/call");
        assert_eq!(req.header("authorization"), Some(&*format!("Bearer t{n}")));
    }
    let wire = req.rpc_id().unwrap();
    net.reply(req.conn, &json("200 OK", &result(wire, "{}"), ""));
    net.flush();
    (net, id)
}

#[test]
fn a_call_refused_after_each_new_credential_fails_past_max_authorizations() {
    for mode in BOTH {
        let max = Retry::default().max_authorizations;
        let (net, id) = call_refused(mode, max);
        assert!(
            matches!(outcome(&net, id), Some(Ok(_))),
            "{mode:?}: at the limit"
        );
        let (mut net, id) = call_refused(mode, max + 1);
        match outcome(&net, id) {
            Some(Err(CallError::Unauthorized(why))) => {
                assert_eq!(why, "still refused after 3 authorizations");
            }
            other => panic!("{mode:?}: {other:?}"),
        }
        // The last refusal failed the call, and nothing else waits: no new wait.
        assert!(required(&mut net).is_empty());
        assert!(!net.client.is_awaiting_authorization());
        assert!(net.client.is_connected());
    }
}

/// The handshake refused `refusals` times, a new credential after each.
fn handshake_refused(mode: Mode, refusals: u32) -> Raw {
    let mut net = Raw::new(config(mode));
    let mut first = only(net.flush(), first_step(mode));
    for n in 0..refusals {
        net.reply(first.conn, &unauthorized());
        assert!(net.flush().is_empty());
        if net.client.is_closed() {
            return net;
        }
        net.client
            .set_authorization(net.now, Some(&format!("Bearer t{n}")))
            .unwrap();
        first = only(net.flush(), first_step(mode));
    }
    let token = format!("Bearer t{}", refusals - 1);
    complete_handshake(&mut net, mode, first, &token);
    net
}

#[test]
fn a_handshake_refused_after_each_new_credential_closes_past_max_authorizations() {
    for mode in BOTH {
        let max = Retry::default().max_authorizations;
        let net = handshake_refused(mode, max);
        assert!(net.client.is_connected(), "{mode:?}: at the limit");
        let net = handshake_refused(mode, max + 1);
        assert_eq!(
            closed(&net),
            Some(CloseReason::Unauthorized(
                "still refused after 3 authorizations".into()
            ))
        );
        assert!(net.client.stats().is_quiescent(), "{}", net.client.stats());
    }
}

#[test]
fn authorization_failed_during_the_handshake_closes_the_client() {
    for mode in BOTH {
        let mut net = Raw::new(config(mode));
        let first = only(net.flush(), first_step(mode));
        net.reply(first.conn, &unauthorized());
        net.flush();
        let pending = call(&mut net, None);
        net.client
            .authorization_failed(net.now, "the user closed the sign-in page");
        assert!(net.flush().is_empty());
        assert_eq!(
            closed(&net),
            Some(CloseReason::Unauthorized(
                "the user closed the sign-in page".into()
            ))
        );
        assert!(matches!(
            outcome(&net, pending),
            Some(Err(CallError::Closed))
        ));
        assert!(net.client.is_closed());
        assert!(net.client.stats().is_quiescent(), "{}", net.client.stats());
        assert_eq!(net.client.stats().authorization_failures_total, 1);
    }
}

#[test]
fn authorization_failed_once_connected_fails_what_was_parked_and_stays_connected() {
    for mode in BOTH {
        let mut net = ready(mode);
        net.client
            .set_authorization(net.now, Some("Bearer old"))
            .unwrap();
        let parked = call(&mut net, None);
        let post = only(net.flush(), "tools/call");
        net.reply(post.conn, &unauthorized());
        net.flush();
        let meanwhile = call(&mut net, None);
        assert!(net.flush().is_empty());
        net.client
            .authorization_failed(net.now, "token endpoint: 500");
        let reqs = net.flush();
        match outcome(&net, parked) {
            Some(Err(CallError::Unauthorized(why))) => assert_eq!(why, "token endpoint: 500"),
            other => panic!("{mode:?}: {other:?}"),
        }
        assert!(net.client.is_connected());
        assert!(!net.client.is_awaiting_authorization());
        // What was asked meanwhile was never refused: it goes, with the old credential.
        let req = only(reqs, "tools/call");
        assert_eq!(req.header("authorization"), Some("Bearer old"));
        let wire = req.rpc_id().unwrap();
        net.reply(req.conn, &json("200 OK", &result(wire, "{}"), ""));
        net.flush();
        assert!(matches!(outcome(&net, meanwhile), Some(Ok(_))));
        // Not waiting: nothing to fail.
        net.client.authorization_failed(net.now, "not waiting");
        assert_eq!(net.client.stats().authorization_failures_total, 1);
        assert!(net.client.is_connected());
    }
}

#[test]
fn no_credentials_within_the_authorization_timeout_is_a_failure() {
    for mode in BOTH {
        // During the handshake: the client closes.
        let mut net = Raw::new(config(mode));
        let first = only(net.flush(), first_step(mode));
        net.reply(first.conn, &unauthorized());
        net.flush();
        net.advance(299_999);
        net.flush();
        assert!(net.client.is_awaiting_authorization());
        assert!(!net.client.is_closed());
        net.advance(1);
        net.flush();
        assert_eq!(
            closed(&net),
            Some(CloseReason::Unauthorized(
                "no credentials within 300 s".into()
            ))
        );
        assert!(net.client.stats().is_quiescent());

        // Connected: the parked call fails, the client stays.
        let mut net = ready(mode);
        let id = call(&mut net, Some(Duration::from_secs(3600)));
        let post = only(net.flush(), "tools/call");
        net.reply(post.conn, &unauthorized());
        net.flush();
        net.advance(300_000);
        net.flush();
        match outcome(&net, id) {
            Some(Err(CallError::Unauthorized(why))) => {
                assert_eq!(why, "no credentials within 300 s");
            }
            other => panic!("{mode:?}: {other:?}"),
        }
        assert!(net.client.is_connected());
        assert!(!net.client.is_awaiting_authorization());
    }
}

#[test]
fn close_while_waiting_ends_the_wait_and_deletes_the_session_with_the_credential() {
    for mode in BOTH {
        let mut net = ready(mode);
        net.client
            .set_authorization(net.now, Some("Bearer t1"))
            .unwrap();
        let id = call(&mut net, None);
        let post = only(net.flush(), "tools/call");
        net.reply(post.conn, &unauthorized());
        net.flush();
        assert!(net.client.is_awaiting_authorization());
        net.client.close(net.now);
        assert!(!net.client.is_awaiting_authorization());
        let reqs = net.flush();
        assert!(matches!(outcome(&net, id), Some(Err(CallError::Closed))));
        match mode {
            Mode::Modern => assert!(reqs.is_empty()),
            Mode::Sessions => {
                let delete = reqs.into_iter().find(|r| r.method == "DELETE").unwrap();
                assert_eq!(delete.header("authorization"), Some("Bearer t1"));
                assert_eq!(delete.header("mcp-session-id"), Some("s1"));
                net.reply(delete.conn, &empty("200 OK", ""));
                net.flush();
            }
        }
        assert_eq!(closed(&net), Some(CloseReason::Requested));
        assert!(net.client.stats().is_quiescent(), "{}", net.client.stats());
    }
}

#[test]
fn a_parked_call_still_times_out() {
    for mode in BOTH {
        let mut net = ready(mode);
        let id = call(&mut net, Some(Duration::from_secs(5)));
        let post = only(net.flush(), "tools/call");
        net.reply(post.conn, &unauthorized());
        net.flush();
        net.advance(4_999);
        net.flush();
        assert!(outcome(&net, id).is_none());
        net.advance(1);
        net.flush();
        assert!(matches!(outcome(&net, id), Some(Err(CallError::Timeout))));
        // The wait runs on; credentials end it and there is nothing to send again.
        assert!(net.client.is_awaiting_authorization());
        net.client
            .set_authorization(net.now, Some("Bearer t"))
            .unwrap();
        assert!(net.flush().is_empty());
    }
}

#[test]
fn a_credential_with_cr_lf_or_nul_or_past_the_limit_is_refused() {
    let mut net = Raw::new(config(Mode::Modern));
    let first = only(net.flush(), first_step(Mode::Modern));
    net.reply(first.conn, &unauthorized());
    net.flush();
    for bad in [
        "Bearer a\r\nx-evil: 1",
        "Bearer a\nb",
        "Bearer a\rb",
        "Bearer a\0b",
    ] {
        assert_eq!(
            net.client.set_authorization(net.now, Some(bad)),
            Err(CommandError::InvalidHeader)
        );
    }
    let limit = ClientLimits::default().max_authorization_bytes;
    let past = format!("Bearer {}", "a".repeat(limit - 6));
    assert_eq!(
        net.client.set_authorization(net.now, Some(&past)),
        Err(CommandError::TooLarge)
    );
    // A refused value ends no wait and is not sent.
    assert!(net.client.is_awaiting_authorization());
    assert!(net.flush().is_empty());
    assert_eq!(net.client.held_bytes(), 0);
    let at = &past[..limit];
    net.client.set_authorization(net.now, Some(at)).unwrap();
    assert_eq!(net.client.held_bytes(), limit);
    let first = only(net.flush(), first_step(Mode::Modern));
    assert_eq!(first.header("authorization"), Some(at));
}

#[test]
fn the_credential_is_held_bytes_and_goes_with_the_client() {
    let mut net = ready(Mode::Modern);
    let before = net.client.stats().held_bytes;
    net.client
        .set_authorization(net.now, Some("Bearer abc"))
        .unwrap();
    assert_eq!(net.client.stats().held_bytes, before + 10);
    net.client.set_authorization(net.now, None).unwrap();
    assert_eq!(net.client.stats().held_bytes, before);
    let id = call(&mut net, None);
    let post = only(net.flush(), "tools/call");
    assert_eq!(post.header("authorization"), None);
    let wire = post.rpc_id().unwrap();
    net.reply(post.conn, &json("200 OK", &result(wire, "{}"), ""));
    net.flush();
    assert!(matches!(outcome(&net, id), Some(Ok(_))));
    net.client
        .set_authorization(net.now, Some("Bearer abc"))
        .unwrap();
    net.client.close(net.now);
    net.flush();
    assert!(net.client.stats().is_quiescent(), "{}", net.client.stats());
    assert_eq!(
        net.client.set_authorization(net.now, Some("Bearer x")),
        Err(CommandError::Closed)
    );
}

#[test]
fn a_configured_authorization_field_is_the_first_credential_and_is_replaced() {
    let mut c = config(Mode::Sessions);
    c.headers
        .push(("Authorization".into(), "Bearer configured".into()));
    c.headers.push(("x-other".into(), "1".into()));
    let mut net = Raw::new(c);
    let init = only(net.flush(), "initialize");
    assert_eq!(init.header("authorization"), Some("Bearer configured"));
    net.reply(init.conn, &unauthorized());
    net.flush();
    net.client
        .set_authorization(net.now, Some("Bearer fresh"))
        .unwrap();
    let init = only(net.flush(), "initialize");
    let fields: Vec<&str> = init
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(fields, ["Bearer fresh"]);
    assert_eq!(init.header("x-other"), Some("1"));
}

/// A call whose server had begun its stream (an event id) lost it; its resumption is refused
/// with 401. It is resumed again with the new credential, never POSTed a second time.
#[test]
fn a_refused_resumption_is_resumed_again_not_run_twice() {
    let mut net = ready(Mode::Sessions);
    let id = call(&mut net, None);
    let post = only(net.flush(), "tools/call");
    let wire = post.rpc_id().unwrap();
    let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
    net.reply(
        post.conn,
        &format!(
            "{}{}",
            sse_head(""),
            chunk(&format!("id: e1\ndata: {progress}\n\n"))
        ),
    );
    net.client.handle_closed(net.now, post.conn);
    net.flush();
    net.advance(1_000);
    let resume = net
        .flush()
        .into_iter()
        .find(|r| r.method == "GET" && r.header("last-event-id").is_some())
        .unwrap();
    net.reply(resume.conn, &unauthorized());
    assert!(net.flush().is_empty());
    assert_eq!(required(&mut net).len(), 1);
    net.client
        .set_authorization(net.now, Some("Bearer t1"))
        .unwrap();
    let reqs = net.flush();
    assert_eq!(reqs.len(), 1);
    let again = &reqs[0];
    assert_eq!(again.method, "GET");
    assert_eq!(again.header("last-event-id"), Some("e1"));
    assert_eq!(again.header("authorization"), Some("Bearer t1"));
    let answer = result(wire, r#"{"charged":true}"#);
    net.reply(
        again.conn,
        &format!(
            "{}{}0\r\n\r\n",
            sse_head(""),
            chunk(&format!("id: e2\ndata: {answer}\n\n"))
        ),
    );
    net.flush();
    assert!(matches!(outcome(&net, id), Some(Ok(_))));
}

/// The session's GET stream and a notification refused with 401 wait with the rest.
#[test]
fn a_refused_get_stream_and_post_go_again_with_the_credential() {
    let mut net = Raw::new(sessions_config());
    let get = handshake(&mut net).remove(0);
    assert_eq!(get.method, "GET");
    net.client
        .notify(net.now, "notifications/roots/list_changed", None)
        .unwrap();
    let note = only(net.flush(), "notifications/roots/list_changed");
    net.reply(get.conn, &unauthorized());
    net.reply(note.conn, &unauthorized());
    assert!(net.flush().is_empty());
    assert_eq!(required(&mut net).len(), 1, "one wait for both");
    net.client
        .set_authorization(net.now, Some("Bearer t1"))
        .unwrap();
    let reqs = net.flush();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().any(|r| r.method == "GET"));
    assert!(
        reqs.iter()
            .any(|r| r.rpc_method().as_deref() == Some("notifications/roots/list_changed"))
    );
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == Some("Bearer t1"))
    );
}

/// HTTP+SSE: the stream the handshake opens is refused, then sent again with the credential;
/// the POSTs to its endpoint carry it too.
#[test]
fn http_sse_requests_carry_the_credential() {
    let mut net = Raw::new(sessions_config());
    let init = only(net.flush(), "initialize");
    net.reply(init.conn, &empty("405 Method Not Allowed", ""));
    let get = net.flush().remove(0);
    assert_eq!(get.method, "GET");
    net.reply(get.conn, &unauthorized());
    assert!(net.flush().is_empty());
    assert_eq!(required(&mut net).len(), 1);
    net.client
        .set_authorization(net.now, Some("Bearer t1"))
        .unwrap();
    let get = net.flush().remove(0);
    assert_eq!(get.method, "GET");
    assert_eq!(get.header("authorization"), Some("Bearer t1"));
    net.reply(
        get.conn,
        &format!(
            "{}{}",
            sse_head(""),
            chunk("event: endpoint\ndata: /messages?s=1\n\n")
        ),
    );
    let init = only(net.flush(), "initialize");
    assert_eq!(init.header("authorization"), Some("Bearer t1"));
}

#[test]
fn the_challenge_is_every_field_joined_and_cut_at_8_kib() {
    // Two fields, joined.
    let mut net = Raw::new(config(Mode::Sessions));
    let init = only(net.flush(), "initialize");
    let two = format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nwww-authenticate: Basic realm=\"a\"\r\nwww-authenticate: {CHALLENGE}\r\n\r\n"
    );
    net.reply(init.conn, &two);
    net.flush();
    assert_eq!(
        required(&mut net),
        [(401, format!("Basic realm=\"a\", {CHALLENGE}"))]
    );
    // At the limit: kept whole. One past, with a two-byte char across the cut: cut before it.
    for (value, kept) in [
        ("a".repeat(8192), "a".repeat(8192)),
        (format!("{}é", "a".repeat(8191)), "a".repeat(8191)),
    ] {
        let mut net = Raw::new(config(Mode::Sessions));
        let init = only(net.flush(), "initialize");
        net.reply(init.conn, &refused("401 Unauthorized", &value));
        net.flush();
        assert_eq!(required(&mut net), [(401, kept)]);
    }
}

/// The wait for credentials pauses the reconnect episode: a server unreachable once they come
/// closes the client when what was left of the episode has run out, neither sooner (the wait
/// did not count) nor later (it did not start over).
#[test]
fn the_wait_pauses_the_reconnect_episode() {
    for mode in BOTH {
        let mut c = config(mode);
        c.retry.max_attempts = 1000;
        let mut net = Raw::new(c);
        let first = only(net.flush(), first_step(mode));
        net.advance(10_000);
        net.reply(first.conn, &unauthorized());
        net.flush();
        net.advance(100_000);
        net.flush();
        assert!(!net.client.is_closed());
        net.refuse_connect = true;
        net.client
            .set_authorization(net.now, Some("Bearer t1"))
            .unwrap();
        let set_at = net.now;
        net.flush();
        for _ in 0..10_000 {
            if net.client.is_closed() {
                break;
            }
            net.advance(100);
            net.flush();
        }
        assert_eq!(closed(&net), Some(CloseReason::Unreachable), "{mode:?}");
        let took = net.now.saturating_duration_since(set_at);
        assert_eq!(took, Duration::from_secs(50), "{mode:?}");
    }
}
