//! Requests for the application's own paths (`/metrics`, `/healthz`): routed to it as events,
//! answered with `respond_http`, and bounded by the request-read deadline when it never answers.

use alloc::string::ToString;
use alloc::vec::Vec;

use super::harness::Harness;
use crate::engine::{CommandError, Config, Event, ExchangeId};

fn harness() -> Harness {
    let mut config = Config::new("t", "1");
    config.application_paths = alloc::vec!["/metrics".to_string()];
    Harness::new(config)
}

fn take_http_request(h: &mut Harness) -> (ExchangeId, Vec<u8>) {
    let index = h
        .events
        .iter()
        .position(|e| matches!(e, Event::HttpRequest { .. }))
        .expect("an HttpRequest event");
    match h.events.remove(index) {
        Event::HttpRequest { exchange, request } => {
            assert_eq!(request.method_str(), "GET");
            assert_eq!(request.path(), "/metrics");
            (exchange, request.body().to_vec())
        }
        _ => unreachable!(),
    }
}

#[test]
fn an_application_path_is_answered_by_the_application() {
    let mut h = harness();
    let conn = h.connect();
    h.send(conn, &Harness::request("GET", "/metrics?x=1", &[], ""));
    let (exchange, _) = take_http_request(&mut h);
    assert!(h.take_response(conn).is_none(), "nothing before the answer");
    h.engine
        .respond_http(
            h.now,
            exchange,
            200,
            &[("content-type", "text/plain")],
            b"up 1\n",
        )
        .unwrap();
    h.pump();
    let response = h.take_response(conn).expect("the answer");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"up 1\n");
    // Answered once: a second answer is stale, and the connection serves the next request.
    assert_eq!(
        h.engine.respond_http(h.now, exchange, 200, &[], b""),
        Err(CommandError::StaleHandle)
    );
    h.send(conn, &Harness::request("GET", "/metrics", &[], ""));
    let (second, _) = take_http_request(&mut h);
    assert_ne!(second, exchange);
}

#[test]
fn host_and_origin_checks_come_first() {
    let mut h = harness();
    let conn = h.connect();
    h.send(
        conn,
        &Harness::request(
            "GET",
            "/metrics",
            &[("Origin", "http://evil.example.com")],
            "",
        ),
    );
    assert_eq!(h.take_response(conn).unwrap().status, 403);
    assert!(h.events.is_empty());
}

#[test]
fn other_paths_are_still_not_found() {
    let mut h = harness();
    let conn = h.connect();
    h.send(conn, &Harness::request("GET", "/metrics/x", &[], ""));
    assert_eq!(h.take_response(conn).unwrap().status, 404);
}

#[test]
fn an_application_that_never_answers_loses_the_connection_at_the_read_deadline() {
    let mut h = harness();
    let read = h.engine.config().timeouts.request_read.as_millis();
    let conn = h.connect();
    h.send(conn, &Harness::request("GET", "/metrics", &[], ""));
    let (exchange, _) = take_http_request(&mut h);
    h.advance(read - 1);
    assert!(!h.closed.contains(&conn));
    h.advance(1);
    assert!(h.closed.contains(&conn));
    assert_eq!(
        h.engine.respond_http(h.now, exchange, 200, &[], b""),
        Err(CommandError::StaleHandle)
    );
    assert!(h.engine.stats().is_quiescent(), "{}", h.engine.stats());
}

#[test]
fn a_full_event_queue_answers_503() {
    let mut config = Config::new("t", "1");
    config.application_paths = alloc::vec!["/metrics".to_string()];
    config.limits.max_pending_events = 1;
    let mut h = Harness::new(config);
    h.hold_events = true;
    let first = h.connect();
    h.send(first, &Harness::request("GET", "/metrics", &[], ""));
    let second = h.connect();
    h.send(second, &Harness::request("GET", "/metrics", &[], ""));
    let response = h.take_response(second).expect("refused at once");
    assert_eq!(response.status, 503);
    assert_eq!(response.header("retry-after"), Some("1"));
}
