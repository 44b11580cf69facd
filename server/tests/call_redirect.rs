//! `mcpwire call`'s loopback redirect listener, over real sockets: the callback's URL is
//! returned; other paths (404), other methods (405), another `state` (400) and a head past
//! 8 KiB (431) are answered and the wait goes on; a silent connection is cut at its deadline;
//! no more than four connections are served at once; dropping the wait closes the listener
//! and every connection it holds.

#[allow(dead_code, unreachable_pub)]
#[path = "../src/call/redirect.rs"]
mod redirect;

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::Conn;
use redirect::{MAX_CONNECTIONS, MAX_HEAD_BYTES, RedirectListener};
use smol::future::FutureExt as _;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `GET target` with a Host field, as a browser sends it.
fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n").into_bytes()
}

/// Sends `bytes` on a new connection and returns the response's status and body.
fn exchange(port: u16, bytes: &[u8]) -> (u16, String) {
    let mut conn = Conn::open(addr(port));
    conn.send(bytes);
    let response = conn.response();
    (
        response.status,
        String::from_utf8_lossy(&response.body).into_owned(),
    )
}

/// Runs the wait on this thread while `client` runs on another; both results.
fn wait_with<T: Send + 'static>(
    listener: RedirectListener,
    client: impl FnOnce(u16) -> T + Send + 'static,
) -> (Result<String, String>, T) {
    let port = listener.port();
    let client = std::thread::spawn(move || client(port));
    let outcome = smol::block_on(listener.wait());
    (outcome, client.join().expect("the client"))
}

#[test]
fn the_callback_url_is_returned_after_other_paths_get_404() {
    let listener = RedirectListener::bind(0).unwrap();
    let port = listener.port();
    let (outcome, answers) = wait_with(listener, |port| {
        let favicon = exchange(port, &get("/favicon.ico"));
        let root = exchange(port, &get("/"));
        let callback = exchange(
            port,
            &get("/callback?code=abc&state=xyz&iss=http%3A%2F%2Fas"),
        );
        (favicon, root, callback)
    });
    let ((favicon, _), (root, _), (status, page)) = answers;
    assert_eq!((favicon, root), (404, 404));
    assert_eq!(status, 200);
    assert!(page.contains("close this window"), "{page}");
    assert_eq!(
        outcome,
        Ok(format!(
            "http://127.0.0.1:{port}/callback?code=abc&state=xyz&iss=http%3A%2F%2Fas"
        ))
    );
}

#[test]
fn another_state_or_method_is_refused_and_the_wait_goes_on() {
    let listener = RedirectListener::bind(0)
        .unwrap()
        .expect_state(Some("s 1".into()));
    let (outcome, statuses) = wait_with(listener, |port| {
        let stale = exchange(port, &get("/callback?code=old&state=s0")).0;
        let none = exchange(port, &get("/callback?code=x")).0;
        let post = exchange(
            port,
            b"POST /callback?code=x&state=s+1 HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 0\r\n\r\n",
        )
        .0;
        // The state as the authorization URL encoded it.
        let good = exchange(port, &get("/callback?code=new&state=s%201")).0;
        [stale, none, post, good]
    });
    assert_eq!(statuses, [400, 400, 405, 200]);
    assert!(outcome.unwrap().ends_with("/callback?code=new&state=s%201"));
}

/// A request head of exactly `len` bytes: the callback, padded with a header field.
fn head_of(len: usize) -> Vec<u8> {
    let start = "GET /callback?code=big HTTP/1.1\r\nHost: 127.0.0.1\r\nx-pad: ";
    let end = "\r\n\r\n";
    let pad = len - start.len() - end.len();
    format!("{start}{}{end}", "p".repeat(pad)).into_bytes()
}

#[test]
fn a_head_of_8_kib_is_read_and_a_longer_one_refused() {
    let listener = RedirectListener::bind(0).unwrap();
    let (outcome, statuses) = wait_with(listener, |port| {
        let past = exchange(port, &head_of(MAX_HEAD_BYTES + 1)).0;
        let at = exchange(port, &head_of(MAX_HEAD_BYTES)).0;
        (past, at)
    });
    assert_eq!(statuses, (431, 200));
    assert!(outcome.unwrap().ends_with("/callback?code=big"));
}

#[test]
fn a_silent_connection_is_cut_at_its_deadline() {
    let listener = RedirectListener::bind(0)
        .unwrap()
        .connection_deadline(Duration::from_millis(200));
    let (outcome, cut) = wait_with(listener, |port| {
        let mut silent = Conn::open(addr(port));
        // Also a connection that sent half a head.
        let mut half = Conn::open(addr(port));
        half.send(b"GET /callback?code=");
        let cut = silent.is_closed_by_peer() && half.is_closed_by_peer();
        exchange(port, &get("/callback?code=after"));
        cut
    });
    assert!(cut, "the listener closes what does not finish in time");
    assert!(outcome.unwrap().ends_with("code=after"));
}

#[test]
fn four_connections_are_served_at_once_and_a_fifth_waits() {
    let listener = RedirectListener::bind(0)
        .unwrap()
        .connection_deadline(Duration::from_secs(120));
    let port = listener.port();
    let mut wait = std::pin::pin!(listener.wait());

    // At the cap, with one connection left for it: the callback is served while the others
    // stay open.
    let idle: Vec<Conn> = (0..MAX_CONNECTIONS - 1)
        .map(|_| Conn::open(addr(port)))
        .collect();
    let client = std::thread::spawn(move || exchange(port, &get("/callback?code=at-cap")).0);
    let outcome = smol::block_on(&mut wait);
    assert_eq!(client.join().unwrap(), 200);
    assert!(outcome.unwrap().ends_with("code=at-cap"));
    drop(idle);

    // Past it: four silent connections hold every slot; the fifth is served once one of them
    // goes.
    let listener = RedirectListener::bind(0)
        .unwrap()
        .connection_deadline(Duration::from_secs(120));
    let port = listener.port();
    let mut wait = std::pin::pin!(listener.wait());
    let mut idle: Vec<Conn> = (0..MAX_CONNECTIONS)
        .map(|_| Conn::open(addr(port)))
        .collect();
    let mut fifth = Conn::open(addr(port));
    fifth.send(&get("/callback?code=past-cap"));
    // The wait runs a while with the fifth's request sent: it is not read (this can only
    // fail if the cap is not kept, never because the machine is slow).
    let early = smol::block_on((&mut wait).or(async {
        smol::Timer::after(Duration::from_millis(300)).await;
        Err("still waiting".to_string())
    }));
    assert_eq!(early, Err("still waiting".to_string()));
    drop(idle.pop());
    let reader = std::thread::spawn(move || fifth.response().status);
    let outcome = smol::block_on(&mut wait);
    assert_eq!(reader.join().unwrap(), 200);
    assert!(outcome.unwrap().ends_with("code=past-cap"));
}

#[test]
fn dropping_the_wait_closes_the_listener_and_its_connections() {
    let listener = RedirectListener::bind(0).unwrap();
    let port = listener.port();
    let (done, finished) = smol::channel::bounded::<()>(1);
    let client = std::thread::spawn(move || {
        // Half a head: the listener holds this connection, waiting for the rest.
        let mut held = Conn::open(addr(port));
        held.send(b"GET /callback?code=");
        // Accepted after the held one (the backlog is first in, first out), and answered: so
        // the held one is the listener's by now.
        assert_eq!(exchange(port, &get("/favicon.ico")).0, 404);
        done.send_blocking(()).unwrap();
        held
    });
    let outcome = smol::block_on(smol::future::or(listener.wait(), async {
        finished.recv().await.expect("the client signals");
        Err("dropped".to_string())
    }));
    assert_eq!(outcome, Err("dropped".to_string()));
    let mut held = client.join().unwrap();
    assert!(held.is_closed_by_peer(), "the held connection is closed");
    let refused = TcpStream::connect(addr(port)).expect_err("nothing listens");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn the_redirect_uri_names_loopback_and_the_callback_path() {
    assert_eq!(
        redirect::redirect_uri(8976),
        "http://127.0.0.1:8976/callback"
    );
    let port = redirect::free_port().unwrap();
    assert_ne!(port, 0);
    // Free again at once: the probe holds nothing.
    let listener = RedirectListener::bind(port).unwrap();
    assert_eq!(listener.port(), port);
}
