//! HTTPS over real sockets: the smol client calls tools through TLS in both eras; a client
//! that does not trust the CA is told why; plain HTTP on the TLS port is closed, not served;
//! a handshake that never finishes is cut at the request deadline, and a thousand of them
//! leave nothing behind; a handshake is read up to 16 KiB and refused past it; a TLS client
//! that stops reading is cut like any other.

#[path = "common/certs.rs"]
mod certs;
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certs::TestPki;
use common::{InProcess, PATIENCE};
use futures_rustls::rustls::pki_types::ServerName;
use futures_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use mcpwire_smol::client::{Client, ClientError, EraChoice};
use mcpwire_smol::tls::TlsConfig;
use mcpwire_smol::{App, Context, Error, Server, ServerStats, Tool, ToolResult};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

#[derive(Deserialize, JsonSchema)]
struct Repeat {
    /// How many bytes of text to answer with.
    bytes: usize,
}

fn app() -> App {
    App::builder("tls-test", "1")
        .tool(Tool::new("add", |args: Add, _cx: Context| async move {
            Ok::<_, Error>(ToolResult::text((args.a + args.b).to_string()))
        }))
        .tool(Tool::new(
            "repeat",
            |args: Repeat, _cx: Context| async move {
                Ok::<_, Error>(ToolResult::text("x".repeat(args.bytes)))
            },
        ))
        .build()
}

fn serve(pki: &TestPki, adjust: impl FnOnce(&mut mcpwire_smol::Config)) -> InProcess {
    InProcess::serve_server(Server::new(app()).tls(pki.server_tls()).configure(adjust))
}

fn stats(server: &InProcess) -> ServerStats {
    smol::block_on(server.handle.stats()).expect("running")
}

/// Polls the server's stats until `done` holds; fails with the last stats after PATIENCE.
fn wait_for(server: &InProcess, what: &str, done: impl Fn(&ServerStats) -> bool) -> ServerStats {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = stats(server);
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "{what}: {stats:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server holds no connection, exchange or request, and its bookkeeping holds.
fn wait_idle(server: &InProcess) -> ServerStats {
    let stats = wait_for(server, "idle", |s| {
        s.engine.connections == 0 && s.engine.exchanges == 0 && s.engine.inflight_requests == 0
    });
    smol::block_on(server.handle.check_invariants())
        .unwrap()
        .unwrap();
    stats
}

/// A blocking rustls client that trusts `ca_pem`.
fn tls_client(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(
        #[allow(deprecated)]
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

use rustls::pki_types::pem::PemObject as _;

/// A TLS connection to `addr`, handshake done.
fn tls_connect(addr: SocketAddr, ca_pem: &str) -> StreamOwned<ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(tls_client(ca_pem), name).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("the handshake completes");
    }
    stream
}

/// A real ClientHello, as a TLS client sends it first.
fn client_hello(ca_pem: &str) -> Vec<u8> {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(tls_client(ca_pem), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

/// Reads until the peer closes; what was read.
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

fn text(result: &serde_json::Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

#[test]
fn the_client_calls_tools_over_tls_in_both_eras() {
    let pki = TestPki::new();
    let server = serve(&pki, |_| {});
    // By IP address (checked against the certificate's IP SAN) and by name (SNI).
    let urls = [
        format!("https://{}/mcp", server.addr),
        format!("https://localhost:{}/mcp", server.addr.port()),
    ];
    for url in &urls {
        for era in [EraChoice::Sessions, EraChoice::Modern] {
            smol::block_on(async {
                let client = Client::builder(url)
                    .unwrap()
                    .ca_pem(pki.ca_pem.as_bytes())
                    .unwrap()
                    .era(era)
                    .connect()
                    .await
                    .unwrap_or_else(|e| panic!("{url} {era:?}: {e}"));
                let sum = client
                    .call_tool("add", json!({"a": 2, "b": 3}))
                    .await
                    .unwrap();
                assert_eq!(text(&sum), "5", "{url} {era:?}");
                // Larger than a TLS record and than the server's output batch: it goes out in
                // several, each reported written only once it is in the kernel.
                let big = client
                    .call_tool("repeat", json!({"bytes": 300_000}))
                    .await
                    .unwrap();
                assert_eq!(text(&big).len(), 300_000, "{url} {era:?}");
                client.close().await;
            });
        }
    }
    let stats = wait_idle(&server);
    assert_eq!(stats.engine.sessions, 0, "every session was DELETEd");
    let tls = stats.tls.unwrap();
    assert!(tls.handshakes >= 4, "{tls:?}");
    assert_eq!((tls.failed, tls.abandoned), (0, 0), "{tls:?}");
    server.stop();
}

#[test]
fn a_client_that_does_not_trust_the_ca_fails_with_a_clear_error() {
    let pki = TestPki::new();
    let server = serve(&pki, |_| {});
    let url = format!("https://{}/mcp", server.addr);
    // A reconnect timeout longer than PATIENCE: the answer comes from the first attempt.
    let outcome = smol::block_on(
        Client::builder(&url)
            .unwrap()
            .reconnect_timeout(Duration::from_secs(600))
            .connect(),
    );
    let Err(ClientError::Connect(why)) = outcome else {
        panic!("connected without trusting the CA: {outcome:?}");
    };
    assert!(
        why.contains("certificate is not trusted") && why.contains("UnknownIssuer"),
        "{why}"
    );
    // Its alert closed the connection on the server, counted.
    let stats = wait_for(&server, "the refusal counted", |s| {
        s.tls.is_some_and(|t| t.failed == 1)
    });
    assert_eq!(stats.tls.unwrap().handshakes, 0);
    wait_idle(&server);
    server.stop();
}

#[test]
fn the_client_refuses_a_ca_file_that_holds_no_certificate() {
    let pki = TestPki::new();
    let files = pki.write("refuses-ca");
    let error = Client::builder("https://127.0.0.1:1/mcp")
        .unwrap()
        .ca_file(&files.key)
        .unwrap_err();
    assert_eq!(error.file(), Some(files.key.as_path()));
    assert!(
        error.to_string().contains("no CERTIFICATE section"),
        "{error}"
    );
    let missing = files.ca.with_file_name("absent.pem");
    let error = Client::builder("https://127.0.0.1:1/mcp")
        .unwrap()
        .ca_file(&missing)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: cannot read it", missing.display())),
        "{error}"
    );
}

#[test]
fn pem_files_that_do_not_fit_are_named_with_the_problem() {
    let pki = TestPki::new();
    let files = pki.write("pem-errors");
    assert!(TlsConfig::from_pem_files(&files.cert, &files.key).is_ok());
    // The certificate file given as the key, and the key as the certificate.
    let error = TlsConfig::from_pem_files(&files.cert, &files.cert).unwrap_err();
    assert_eq!(error.file(), Some(files.cert.as_path()));
    assert!(error.to_string().contains("no private key"), "{error}");
    let error = TlsConfig::from_pem_files(&files.key, &files.key).unwrap_err();
    assert!(
        error.to_string().contains("no CERTIFICATE section"),
        "{error}"
    );
    // Another server's key: it does not belong to the certificate.
    let other = TestPki::new().write("pem-errors-other");
    let error = TlsConfig::from_pem_files(&files.cert, &other.key).unwrap_err();
    assert_eq!(error.file(), Some(other.key.as_path()));
    assert!(error.to_string().contains("key"), "{error}");
}

#[test]
fn plain_http_on_the_tls_port_is_closed_not_served() {
    let pki = TestPki::new();
    let server = serve(&pki, |_| {});
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let answer = read_to_close(&mut tcp);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "served: {:?}",
        String::from_utf8_lossy(&answer)
    );
    // At most a TLS alert record.
    assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
    let stats = wait_idle(&server);
    assert_eq!(stats.tls.unwrap().failed, 1);
    assert_eq!(stats.counters.http_requests, 0, "{:?}", stats.counters);
    server.stop();
}

#[test]
fn a_handshake_that_never_finishes_is_cut_at_the_request_deadline() {
    let pki = TestPki::new();
    // The write deadline is far past PATIENCE: the request deadline alone can cut it.
    let server = serve(&pki, |c| {
        c.timeouts.request_read = mcpwire_smol::time::Duration::from_millis(500);
        c.timeouts.write = mcpwire_smol::time::Duration::from_secs(600);
    });
    let hello = client_hello(&pki.ca_pem);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.write_all(&hello[..hello.len() / 2]).unwrap();
    let answer = read_to_close(&mut tcp);
    assert!(answer.is_empty(), "{answer:?}");
    let stats = wait_idle(&server);
    let tls = stats.tls.unwrap();
    assert_eq!(
        (tls.handshakes, tls.abandoned, tls.failed),
        (0, 1, 0),
        "{tls:?}"
    );
    assert_eq!(
        stats.counters.request_read_timeouts, 1,
        "{:?}",
        stats.counters
    );
    assert_eq!(stats.counters.write_timeouts, 0, "{:?}", stats.counters);
    server.stop();
}

#[test]
fn a_thousand_half_open_handshakes_hold_nothing_past_their_deadline() {
    const CONNECTIONS: usize = 1000;
    let pki = TestPki::new();
    let server = serve(&pki, |c| {
        c.timeouts.request_read = mcpwire_smol::time::Duration::from_secs(2);
        c.timeouts.write = mcpwire_smol::time::Duration::from_secs(600);
        c.limits.max_connections_per_peer = None;
    });
    let baseline = stats(&server);
    let hello = client_hello(&pki.ca_pem);
    // Half send nothing, half a part of their ClientHello.
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|i| {
            let mut tcp = TcpStream::connect(server.addr).unwrap();
            if i % 2 == 1 {
                tcp.write_all(&hello[..1 + i % (hello.len() - 1)]).unwrap();
            }
            tcp
        })
        .collect();
    for tcp in &mut conns {
        assert!(read_to_close(tcp).is_empty());
    }
    let stats = wait_idle(&server);
    let tls = stats.tls.unwrap();
    assert_eq!(tls.abandoned, CONNECTIONS as u64, "{tls:?}");
    assert_eq!((tls.handshakes, tls.failed), (0, 0), "{tls:?}");
    let timeouts = stats.counters.request_read_timeouts - baseline.counters.request_read_timeouts;
    assert_eq!(timeouts, CONNECTIONS as u64, "{:?}", stats.counters);
    let mut expected = baseline.engine;
    expected.connections_accepted_total += CONNECTIONS as u64;
    assert_eq!(stats.engine, expected, "every gauge back to its baseline");
    assert_eq!(stats.tasks, baseline.tasks);
    server.stop();
}

/// A TLS 1.2 ClientHello of exactly `size` bytes on the wire, in one record: the usual
/// extensions, then a padding extension (RFC 7685) that makes up the size.
fn padded_client_hello(size: usize) -> Vec<u8> {
    fn extension(extensions: &mut Vec<u8>, kind: u16, body: &[u8]) {
        extensions.extend_from_slice(&kind.to_be_bytes());
        extensions.extend_from_slice(&(body.len() as u16).to_be_bytes());
        extensions.extend_from_slice(body);
    }
    let mut extensions = Vec::new();
    let e = &mut extensions;
    extension(e, 0x000a, &[0, 2, 0, 0x1d]); // supported_groups: x25519
    extension(e, 0x000b, &[1, 0]); // ec_point_formats: uncompressed
    extension(e, 0x000d, &[0, 2, 4, 3]); // signature_algorithms: ecdsa_secp256r1_sha256
    extension(e, 0xff01, &[0]); // renegotiation_info: empty
    extension(e, 0x0017, &[]); // extended_master_secret
    // Record header 5, handshake header 4, version 2, random 32, session id 1, one suite 4,
    // compression 2, extensions length 2, the padding extension's header 4.
    let fixed = 5 + 4 + 2 + 32 + 1 + 4 + 2 + 2 + extensions.len() + 4;
    extension(&mut extensions, 0x0015, &vec![0; size - fixed]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0xc0, 0x2b]); // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1];
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    assert_eq!(record.len(), size);
    record
}

#[test]
fn a_handshake_is_read_up_to_16_kib_and_refused_past_it() {
    const LIMIT: usize = 16 * 1024;
    let pki = TestPki::new();
    let server = serve(&pki, |_| {});
    // At the limit: the server answers with its ServerHello.
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp.write_all(&padded_client_hello(LIMIT)).unwrap();
    let mut head = [0u8; 6];
    tcp.read_exact(&mut head).expect("an answer");
    assert_eq!((head[0], head[5]), (0x16, 2), "a ServerHello: {head:?}");
    drop(tcp);
    // One byte past it: closed without an answer, counted as refused.
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.write_all(&padded_client_hello(LIMIT + 1)).unwrap();
    let answer = read_to_close(&mut tcp);
    assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
    let stats = wait_idle(&server);
    let tls = stats.tls.unwrap();
    assert_eq!((tls.failed, tls.abandoned), (1, 1), "{tls:?}");
    server.stop();
}

#[test]
fn a_raw_tls_request_is_answered_and_close_notify_ends_the_connection() {
    let pki = TestPki::new();
    let server = serve(&pki, |_| {});
    let mut stream = tls_connect(server.addr, &pki.ca_pem);
    assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMcp-Method: server/discover\r\n\
         MCP-Protocol-Version: 2026-07-28\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // The server ends with close_notify: a clean end of the TLS stream, not an error.
    stream.read_to_end(&mut answer).expect("a clean end");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("2026-07-28"), "{answer}");
    let stats = wait_idle(&server);
    assert_eq!(stats.tls.unwrap().handshakes, 1);
    server.stop();
}

#[test]
fn tls_and_the_proxy_protocol_on_one_listener_are_refused() {
    let pki = TestPki::new();
    let server = Server::new(app())
        .tls(pki.server_tls())
        .handle_signals(false)
        .configure(|c| c.proxy_protocol_from.push("127.0.0.1".into()));
    let error = smol::block_on(async {
        let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        server.serve(listener).await
    })
    .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("PROXY protocol"), "{error}");
}

#[test]
fn a_tls_client_that_stops_reading_is_cut_and_leaves_nothing() {
    let pki = TestPki::new();
    let server = serve(&pki, |c| {
        c.timeouts.write = mcpwire_smol::time::Duration::from_secs(1);
    });
    let baseline = stats(&server);
    // A receive window of 4 KiB: once the server's send buffer is full, its writes stall.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(tls_client(&pki.ca_pem), name).unwrap();
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "repeat", "arguments": {"bytes": 12_000_000},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }
    }})
    .to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMcp-Method: tools/call\r\n\
         Mcp-Name: repeat\r\nMCP-Protocol-Version: 2026-07-28\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.flush().unwrap();
    // Nothing is read from here on.
    // 12 MB for a reader that takes none: cut at its write deadline (its output stops
    // moving once the kernel's buffers and one batch of TLS records are full) or at its
    // queue limit, whichever comes first.
    wait_for(&server, "the stalled reader cut", |s| {
        s.counters.write_timeouts + s.counters.slow_readers_disconnected
            > baseline.counters.write_timeouts + baseline.counters.slow_readers_disconnected
    });
    let stats = wait_idle(&server);
    assert_eq!(stats.engine.held, baseline.engine.held);
    assert_eq!(stats.tasks, baseline.tasks);
    drop(stream);
    server.stop();
}
