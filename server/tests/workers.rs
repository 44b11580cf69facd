//! Handlers run on worker threads, never on the thread that drives the engine and the
//! sockets: a handler that computes without yielding delays no other session.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Server, Session, result_text};
use serde_json::json;

/// Starts `spin` for `millis` on its own connection and returns once it is running, with a
/// flag set when its result has arrived.
fn start_spin(
    server: &Server,
    millis: u64,
) -> (Session, Arc<AtomicBool>, std::thread::JoinHandle<String>) {
    let (spinner, mut call) = common::start_spin(server.addr, millis);
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let result = std::thread::spawn(move || {
        let (_, result) = call.next_message().expect("the spin's result");
        flag.store(true, Ordering::SeqCst);
        result_text(&result).to_string()
    });
    (spinner, done, result)
}

#[test]
fn a_handler_that_never_yields_delays_no_other_session() {
    // One handler thread: the spin holds it, and the engine still answers everyone else.
    let server = Server::start(&["--threads", "1"]);
    let baseline = server.baseline();
    let mut other = Session::open(server.addr);
    let (spinner, done, result) = start_spin(&server, 1500);
    let mut answered_during = 0;
    while !done.load(Ordering::SeqCst) {
        let reply = other.call("ping", json!({}));
        assert_eq!(reply[0]["result"], json!({}), "{reply:?}");
        if !done.load(Ordering::SeqCst) {
            answered_during += 1;
        }
    }
    assert_eq!(result.join().unwrap(), "spun 1500 ms");
    assert!(
        answered_during > 0,
        "pings are answered while a handler computes"
    );
    assert_eq!(other.delete(), 200);
    assert_eq!(spinner.delete(), 200);
    server.wait_for_baseline(&baseline, common::PATIENCE);
}

#[test]
fn other_handlers_run_beside_one_that_never_yields() {
    let server = Server::start(&["--threads", "2"]);
    let baseline = server.baseline();
    let mut other = Session::open(server.addr);
    let (spinner, done, result) = start_spin(&server, 1500);
    let echo = other.call(
        "tools/call",
        json!({"name":"echo","arguments":{"text":"beside"}}),
    );
    assert_eq!(result_text(&echo[0]), "beside");
    assert!(
        !done.load(Ordering::SeqCst),
        "the echo was answered while the spin held the other thread"
    );
    assert_eq!(result.join().unwrap(), "spun 1500 ms");
    assert_eq!(other.delete(), 200);
    assert_eq!(spinner.delete(), 200);
    server.wait_for_baseline(&baseline, common::PATIENCE);
}

#[test]
fn every_other_session_is_answered_while_a_handler_never_yields() {
    // Six sessions calling beside the spin: each call's handler runs on the free thread, and
    // its reply goes out at once, not after whatever its thread runs next.
    let server = Server::start(&["--threads", "2"]);
    let baseline = server.baseline();
    let (spinner, done, result) = start_spin(&server, 1500);
    let callers: Vec<_> = (0..6)
        .map(|i| {
            let addr = server.addr;
            let done = done.clone();
            std::thread::spawn(move || {
                let mut session = Session::open(addr);
                let mut during = 0;
                while !done.load(Ordering::SeqCst) {
                    let text = format!("caller {i}");
                    let reply = session.call(
                        "tools/call",
                        json!({"name":"echo","arguments":{"text":text}}),
                    );
                    assert_eq!(result_text(&reply[0]), text);
                    if !done.load(Ordering::SeqCst) {
                        during += 1;
                    }
                }
                assert_eq!(session.delete(), 200);
                during
            })
        })
        .collect();
    assert_eq!(result.join().unwrap(), "spun 1500 ms");
    for caller in callers {
        assert!(
            caller.join().unwrap() > 0,
            "a caller was answered during the spin"
        );
    }
    assert_eq!(spinner.delete(), 200);
    server.wait_for_baseline(&baseline, common::PATIENCE);
}
