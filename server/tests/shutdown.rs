//! Graceful shutdown of the real process: SIGTERM ends open streams with a proper chunked
//! terminator, calls still running at the grace deadline are cancelled and answered with an
//! error, and the process exits; a second signal exits at once.

mod common;

use std::time::Duration;

use common::{Server, Session};
use serde_json::json;

/// Far beyond any grace period used here: only a hung process reaches it.
const EXIT_PATIENCE: Duration = Duration::from_secs(30);

#[test]
fn sigterm_ends_streams_cleanly_cancels_calls_at_the_grace_deadline_and_exits() {
    let mut server = Server::start(&["--grace", "1"]);
    let mut session = Session::open(server.addr);
    let mut get = session.open_get(None);
    // A call streaming progress, and one answering with JSON: both outlast the grace period.
    let (streaming_id, mut streaming) = session.start_call(
        "tools/call",
        json!({"name":"sleep","arguments":{"millis":60000},"_meta":{"progressToken":"t"}}),
    );
    streaming.head();
    streaming.start_sse();
    streaming.next_message().expect("first progress");
    let (json_id, mut json_call) = session.start_call(
        "tools/call",
        json!({"name":"sleep","arguments":{"millis":60000}}),
    );
    // A short call that finishes within the grace period is answered normally.
    let (quick_id, mut quick) = session.start_call(
        "tools/call",
        json!({"name":"sleep","arguments":{"millis":300}}),
    );
    std::thread::sleep(Duration::from_millis(100));

    server.signal("TERM");

    // The GET stream ends at once, with the terminator (next_event fails on anything else).
    while get.next_event().is_some() {}
    assert!(get.body_done);

    let quick = quick.response();
    assert_eq!(quick.json()["id"], quick_id);
    assert!(quick.json().get("result").is_some(), "{:?}", quick.json());

    // At the grace deadline the long calls are cancelled: each gets an error, then the end.
    let mut last = None;
    while let Some((_, message)) = streaming.next_message() {
        last = Some(message);
    }
    assert!(
        streaming.body_done,
        "the call's stream ends with the terminator"
    );
    let last = last.expect("an answer");
    assert_eq!(last["id"], streaming_id);
    assert!(last.get("error").is_some(), "{last}");

    let response = json_call.response();
    let body = response.messages();
    let answer = body.last().expect("an answer");
    assert_eq!(answer["id"], json_id);
    assert!(answer.get("error").is_some(), "{answer}");

    let status = server.wait_exit(EXIT_PATIENCE).expect("the process exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn an_idle_server_exits_on_sigint() {
    let mut server = Server::start(&[]);
    server.signal("INT");
    let status = server.wait_exit(EXIT_PATIENCE).expect("the process exits");
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_signal_right_after_the_url_is_a_graceful_shutdown() {
    // A supervisor that signals as soon as it reads the URL: the URL is printed only once the
    // signal handlers are in place, or the default action would kill the process (status
    // "signal: 2", not success).
    for _ in 0..5 {
        let mut server = Server::start(&[]);
        server.signal("INT");
        let status = server.wait_exit(EXIT_PATIENCE).expect("the process exits");
        assert!(status.success(), "{status:?}");
    }
}

/// A shell's status for a process that SIGINT ended, which a forced exit reports.
const FORCED: i32 = 130;

#[test]
fn a_second_signal_exits_without_waiting_for_the_grace_period() {
    let mut server = Server::start(&["--grace", "600"]);
    let mut session = Session::open(server.addr);
    let (_, mut call) = session.start_call(
        "tools/call",
        json!({"name":"sleep","arguments":{"millis":600000}}),
    );
    std::thread::sleep(Duration::from_millis(100));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.wait_exit(Duration::ZERO).is_none(), "still draining");
    server.signal("TERM");
    // Ten minutes of grace were left: exiting now can only be the second signal.
    let status = server
        .wait_exit(EXIT_PATIENCE)
        .expect("the process exits at once");
    assert_eq!(status.code(), Some(FORCED), "a forced exit is a failure");
    assert!(call.is_closed_by_peer());
}

#[test]
fn a_second_signal_exits_at_once_while_a_handler_never_yields() {
    let mut server = Server::start(&["--threads", "1", "--grace", "600"]);
    let _spin = common::start_spin(server.addr, 60_000);
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    // The spin has most of a minute left, and the grace period ten: exiting within the
    // patience can only be the second signal, not waiting for the handler's thread.
    let status = server
        .wait_exit(EXIT_PATIENCE)
        .expect("the process exits at once");
    assert_eq!(status.code(), Some(FORCED), "a forced exit is a failure");
}

#[test]
fn the_grace_period_bounds_the_exit_while_a_handler_never_yields() {
    let mut server = Server::start(&["--threads", "1", "--grace", "1"]);
    let _spin = common::start_spin(server.addr, 60_000);
    server.signal("TERM");
    // Cancelled at the grace deadline, the spin keeps its thread for most of a minute: the
    // process does not wait for it.
    server
        .wait_exit(EXIT_PATIENCE)
        .expect("the process exits after the grace period");
}

#[test]
fn an_address_in_use_is_named_and_fails() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mcpwire"))
        .args(["serve", "--bind", &address.to_string()])
        .output()
        .expect("the mcpwire binary runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "no URL for a server that does not serve"
    );
}

#[test]
fn a_rust_log_that_names_no_level_is_refused_and_off_is_silent() {
    // An address already taken, so that the server stops at once either way.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let run = |value: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mcpwire"))
            .args(["serve", "--bind", &address])
            .env("RUST_LOG", value)
            .output()
            .expect("the mcpwire binary runs")
    };
    let bogus = run("mcpwire_smol=debug");
    assert_eq!(bogus.status.code(), Some(2), "{bogus:?}");
    assert!(String::from_utf8_lossy(&bogus.stderr).contains("is not a level"));
    // The failure is printed; the log says nothing.
    let off = run("off");
    assert_eq!(off.status.code(), Some(1), "{off:?}");
    let stderr = String::from_utf8_lossy(&off.stderr);
    assert!(
        !stderr.contains("INFO") && !stderr.contains("WARN"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
}
