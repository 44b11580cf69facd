//! The run loop serves every input it takes, however deep the queue.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::time::Duration;

use crate::bus::Notice;
use crate::input::{Command, INPUT_CAPACITY, Input};
use crate::{App, Server, ServerStats};

use super::{INPUT_BATCH, batch};

#[test]
fn a_batch_takes_nothing_it_does_not_serve() {
    let (tx, rx) = async_channel::bounded(INPUT_CAPACITY);
    let total = 3 * INPUT_BATCH + 1;
    for i in 0..total {
        tx.try_send(i).unwrap();
    }
    let mut served = Vec::new();
    let taken = std::cell::Cell::new(0);
    while let Ok(first) = rx.try_recv() {
        let before = served.len();
        served.extend(batch(Some(first), &rx, INPUT_BATCH, &taken));
        assert!(served.len() - before <= INPUT_BATCH);
        assert_eq!(taken.get(), served.len() as u64, "taken and not served");
    }
    assert_eq!(served, (0..total).collect::<Vec<_>>());
}

/// A 2026-07-28 `tools/list`, written before the server reads it.
fn client(listener: &StdListener) -> (StdStream, StdStream) {
    let mut client = StdStream::connect(listener.local_addr().unwrap()).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Mcp-Method: tools/list\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    client.write_all(request.as_bytes()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (accepted, _) = listener.accept().unwrap();
    (client, accepted)
}

/// The status line's code, once the server has answered (0 if it closed without a word, as it
/// does at shutdown with a connection whose request it had not read yet).
fn status(client: &mut StdStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return 0,
        }
    }
    let line = String::from_utf8_lossy(&head);
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Several batches of every kind of input are queued before the driver runs, in an order that
/// puts each kind at a batch boundary: every one is served, and the signal at the end shuts
/// the server down.
#[test]
fn several_batches_of_every_kind_of_input_are_each_served() {
    const EACH: usize = 300;
    let server = Server::new(App::builder("batches", "1").build()).handle_signals(false);
    let input = server.input_sender();
    let sockets = StdListener::bind("127.0.0.1:0").unwrap();
    let mut clients = Vec::new();
    let mut acks = Vec::new();
    for i in 0..3 * EACH {
        match i % 3 {
            0 => input
                .try_send(Input::Remote(Notice::Broadcast {
                    method: "notifications/tools/list_changed".into(),
                    params: None,
                }))
                .unwrap_or_else(|_| panic!("room for input {i}")),
            1 => {
                let (client, accepted) = client(&sockets);
                clients.push(client);
                let peer: SocketAddr = accepted.peer_addr().unwrap();
                let accepted = smol::net::TcpStream::try_from(accepted).unwrap();
                input
                    .try_send(Input::Accepted(accepted, Some(peer.ip())))
                    .unwrap_or_else(|_| panic!("room for input {i}"));
            }
            _ => {
                let (ack, answer) = async_channel::bounded::<ServerStats>(1);
                acks.push(answer);
                input
                    .try_send(Input::Command(Command::Stats { ack }))
                    .unwrap_or_else(|_| panic!("room for input {i}"));
            }
        }
    }
    input
        .try_send(Input::Signal)
        .unwrap_or_else(|_| panic!("room for the signal"));
    const { assert!(3 * EACH + 1 > 3 * INPUT_BATCH, "several batches deep") };
    let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let serving = std::thread::spawn(move || smol::block_on(server.serve(listener)));

    for (n, answer) in acks.iter().enumerate() {
        let stats = answer
            .recv_blocking()
            .unwrap_or_else(|_| panic!("stats command {n} was dropped"));
        // Each command comes right after the (n + 1)-th broadcast and socket in the queue.
        assert_eq!(stats.counters.broadcasts, n as u64 + 1, "stats command {n}");
        assert_eq!(
            stats.counters.connections_accepted,
            n as u64 + 1,
            "stats command {n}"
        );
    }
    // The signal behind everything ends the server: the sockets it took are closed (answered
    // first if their requests were read by then).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !serving.is_finished() {
        assert!(std::time::Instant::now() < deadline, "the signal was lost");
        std::thread::sleep(Duration::from_millis(10));
    }
    serving.join().unwrap().unwrap();
    for (n, client) in clients.iter_mut().enumerate() {
        let status = status(client);
        assert!(
            matches!(status, 0 | 404 | 503),
            "socket {n}: status {status}"
        );
    }
}
