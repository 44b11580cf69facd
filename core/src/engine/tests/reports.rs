//! The request log: what `poll_report` says of each exchange, and its bound.

use alloc::string::String;
use alloc::vec::Vec;

use super::harness::{Harness, INIT};
use crate::engine::{Config, ExchangeReport, MAX_PENDING_REPORTS, Reply, Reporting};

fn harness(reporting: Reporting) -> Harness {
    let mut config = Config::new("test-server", "0.1.0");
    config.capabilities = r#"{"tools":{}}"#.into();
    config.reporting = reporting;
    Harness::new(config)
}

fn reports(h: &mut Harness) -> Vec<ExchangeReport> {
    core::iter::from_fn(|| h.engine.poll_report()).collect()
}

#[test]
fn off_reports_nothing() {
    let mut h = Harness::default();
    let (session, _) = h.initialize();
    assert_eq!(h.post(Some("no-such-session"), INIT).status, 400);
    let _ = h.post(
        Some(&session),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    );
    assert!(h.engine.poll_report().is_none());
}

#[test]
fn everything_names_the_method_id_session_and_status_of_each_answer() {
    let mut h = harness(Reporting::Everything);
    let (session, key) = h.initialize();
    let initialize = reports(&mut h);
    assert_eq!(
        initialize.len(),
        2,
        "initialize and notifications/initialized: {initialize:?}"
    );
    assert_eq!(initialize[0].method.as_deref(), Some("initialize"));
    assert_eq!(initialize[0].request_id.as_deref(), Some("0"));
    assert_eq!(initialize[0].session, Some(key), "the session it opened");
    assert_eq!(initialize[0].status, Some(200));
    assert_eq!(initialize[1].status, Some(202));
    assert_eq!(
        initialize[1].method.as_deref(),
        Some("notifications/initialized")
    );

    let (conn, handle) = h.call(
        &session,
        r#"{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"x"}}"#,
    );
    assert!(
        reports(&mut h).is_empty(),
        "nothing until the response head"
    );
    h.advance(25);
    h.engine
        .respond(h.now, handle, &Reply::Result(super::raw("{}")))
        .unwrap();
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().status, 200);
    let [call] = reports(&mut h).try_into().unwrap();
    assert_eq!(call.http_method, "POST");
    assert_eq!(call.path, "/mcp");
    assert_eq!(call.method.as_deref(), Some("tools/call"));
    assert_eq!(call.request_id.as_deref(), Some("\"call-7\""));
    assert_eq!(call.session, Some(key));
    assert_eq!(call.status, Some(200));
    assert!(call.refusal.is_none());
    assert_eq!(call.elapsed.as_millis(), 25);
    h.check();
}

#[test]
fn refusals_carry_the_error_the_client_got_and_nothing_else_is_reported() {
    let mut h = harness(Reporting::Refusals);
    let (session, _) = h.initialize();
    let _ = h.post(
        Some(&session),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    );
    assert!(reports(&mut h).is_empty(), "answers are not refusals");

    let gone = h.post(
        Some("no-such-session"),
        r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
    );
    assert_eq!(gone.status, 404);
    let [refused] = reports(&mut h).try_into().unwrap();
    assert_eq!(refused.status, Some(404));
    let refusal = refused.refusal.unwrap();
    assert_eq!(refusal.code, -32001);
    assert_eq!(refusal.message, "Session not found");
    assert_eq!(refused.method.as_deref(), Some("ping"));
    assert_eq!(refused.request_id.as_deref(), Some("9"));

    let conn = h.connect();
    h.send(conn, b"GET /mcp HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    let [foreign] = reports(&mut h).try_into().unwrap();
    assert_eq!(foreign.status, Some(403));
    assert_eq!(foreign.http_method, "GET");
    assert!(foreign.refusal.unwrap().message.contains("Host"));

    let conn = h.connect();
    h.send(conn, b"NOT HTTP\r\n\r\n");
    let [garbage] = reports(&mut h).try_into().unwrap();
    assert_eq!(garbage.status, Some(400));
    assert_eq!(garbage.conn, Some(conn));
    h.check();
}

#[test]
fn an_exchange_its_client_leaves_is_reported_unanswered() {
    let mut h = harness(Reporting::Everything);
    let (session, _) = h.initialize();
    let _ = reports(&mut h);
    let (conn, _handle) = h.call(
        &session,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}"#,
    );
    h.advance(40);
    h.engine.handle_closed(h.now, conn);
    h.pump();
    let [left] = reports(&mut h).try_into().unwrap();
    assert_eq!(left.status, None);
    assert_eq!(left.method.as_deref(), Some("tools/call"));
    assert_eq!(left.elapsed.as_millis(), 40);
}

#[test]
fn a_peer_chosen_method_is_cut_to_the_bound() {
    let mut h = harness(Reporting::Refusals);
    let method: String = "m".repeat(10_000);
    let body = alloc::format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}"}}"#);
    assert_eq!(h.post(Some("unknown"), &body).status, 404);
    let [refused] = reports(&mut h).try_into().unwrap();
    assert_eq!(
        refused.method.unwrap().len(),
        crate::engine::MAX_REPORTED_TEXT
    );
}

#[test]
fn the_queue_holds_its_bound_and_counts_what_it_drops() {
    let mut h = harness(Reporting::Refusals);
    for _ in 0..MAX_PENDING_REPORTS {
        assert_eq!(h.post(Some("unknown"), INIT).status, 400);
    }
    assert_eq!(
        h.engine.counters().reports_dropped,
        0,
        "at the bound: all kept"
    );
    assert_eq!(
        h.post(Some("unknown"), INIT).status,
        400,
        "served alike past it"
    );
    assert_eq!(
        h.engine.counters().reports_dropped,
        1,
        "one past the bound: dropped"
    );
    h.check();
    assert_eq!(reports(&mut h).len(), MAX_PENDING_REPORTS);
    assert!(h.engine.poll_report().is_none());
}

#[test]
fn legacy_http_sse_exchanges_name_their_session() {
    let mut h = harness(Reporting::Everything);
    let (_sse, endpoint) = h.open_legacy();
    let [opened] = reports(&mut h).try_into().unwrap();
    assert_eq!((opened.path.as_str(), opened.status), ("/sse", Some(200)));
    let session = opened.session.expect("the session the GET opened");
    let conn = h.connect();
    let init = INIT.replace("2025-11-25", "2024-11-05");
    h.send(
        conn,
        &Harness::request(
            "POST",
            &endpoint,
            &[("Content-Type", "application/json")],
            &init,
        ),
    );
    let [posted] = reports(&mut h).try_into().unwrap();
    assert_eq!(posted.status, Some(202));
    assert_eq!(posted.method.as_deref(), Some("initialize"));
    assert_eq!(posted.session, Some(session));
}
