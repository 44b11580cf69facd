//! The loopback listener an authorization server sends the browser back to (RFC 8252 §7.3):
//! `http://127.0.0.1:PORT/callback?code=...`.
//!
//! It lives only while a person authorizes: bound when the sign-in starts, closed (with every
//! connection it holds) when its future ends or is dropped. It parses with mcpwire-core's
//! HTTP/1.1 codec, a head of at most 8 KiB; it holds a few connections at once, each for a
//! bounded time, and answers one request per connection. What it waits for has no deadline of
//! its own: the flow's authorize timeout ends the wait by dropping it.

use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use mcpwire_core::http1::{Limits, ResponseBody, ResponseHead, ServerCodec};
use smol::Async;
use smol::future::FutureExt as _;
use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The path the browser comes back to.
pub const CALLBACK_PATH: &str = "/callback";

/// The largest request head (request line included).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Connections served at once; past it, new ones wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 4;

/// How long one connection may take to send its request and take the answer.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

const PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>mcpwire</title>\
</head><body><p>Authorized. You can close this window and return to the terminal.</p></body>\
</html>";

/// `http://127.0.0.1:PORT/callback`.
#[must_use]
pub fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// A port on 127.0.0.1 that was free a moment ago: the redirect URI must name its port before
/// the flow starts (registration and the authorization request carry it), while the listener
/// is only bound if a person must authorize. The socket that found it is closed at once.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A bound listener, waiting to be waited on.
#[derive(Debug)]
pub struct RedirectListener {
    listener: Async<TcpListener>,
    port: u16,
    state: Option<String>,
    deadline: Duration,
}

type Connection = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

impl RedirectListener {
    /// Listens on `127.0.0.1:port` (0: any free port).
    pub fn bind(port: u16) -> io::Result<RedirectListener> {
        let listener = Async::<TcpListener>::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        let port = listener.get_ref().local_addr()?.port();
        Ok(RedirectListener {
            listener,
            port,
            state: None,
            deadline: CONNECTION_DEADLINE,
        })
    }

    /// The port it listens on.
    #[must_use]
    #[allow(
        dead_code,
        reason = "the command knows its port; the tests bind port 0"
    )]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Only a callback carrying this `state` ends the wait: another (a stale browser tab, a
    /// page probing loopback ports) gets 400 and the wait goes on.
    #[must_use]
    pub fn expect_state(mut self, state: Option<String>) -> RedirectListener {
        self.state = state;
        self
    }

    /// How long one connection may take [default: 10 s].
    #[must_use]
    #[allow(dead_code, reason = "the tests shorten it")]
    pub fn connection_deadline(mut self, deadline: Duration) -> RedirectListener {
        self.deadline = deadline;
        self
    }

    /// Serves until a `GET /callback` (with the expected `state`) arrives, answers it with a
    /// page saying the window can be closed, and returns its full URL. Other paths get 404;
    /// a head past 8 KiB gets 431; the wait goes on after each.
    ///
    /// # Errors
    ///
    /// The listener fails (such as out of descriptors).
    pub async fn wait(self) -> Result<String, String> {
        let RedirectListener {
            listener,
            port,
            state,
            deadline,
        } = self;
        let mut connections: Vec<Connection> = Vec::with_capacity(MAX_CONNECTIONS);
        std::future::poll_fn(|cx| {
            let mut i = 0;
            while i < connections.len() {
                match connections[i].as_mut().poll(cx) {
                    Poll::Ready(Some(url)) => return Poll::Ready(Ok(url)),
                    Poll::Ready(None) => {
                        drop(connections.swap_remove(i));
                    }
                    Poll::Pending => i += 1,
                }
            }
            while connections.len() < MAX_CONNECTIONS {
                match accept(&listener, cx) {
                    Poll::Ready(Ok(stream)) => {
                        let mut connection: Connection =
                            Box::pin(serve(stream, port, state.clone()).or(async move {
                                smol::Timer::after(deadline).await;
                                None
                            }));
                        // Polled once now, so that it registers for its wake-ups.
                        match connection.as_mut().poll(cx) {
                            Poll::Ready(Some(url)) => return Poll::Ready(Ok(url)),
                            Poll::Ready(None) => {}
                            Poll::Pending => connections.push(connection),
                        }
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err(format!("the redirect listener: {e}")));
                    }
                    Poll::Pending => break,
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// The next connection, skipping those that failed before they were accepted.
fn accept(listener: &Async<TcpListener>, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
    loop {
        match listener.get_ref().accept() {
            Ok((stream, _)) => return Poll::Ready(Ok(stream)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if listener.poll_readable(cx)?.is_pending() {
                    return Poll::Pending;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionAborted
                        | ErrorKind::ConnectionReset
                        | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Reads one request and answers it: `Some(url)` for the callback.
async fn serve(stream: TcpStream, port: u16, state: Option<String>) -> Option<String> {
    let mut stream = Async::new(stream).ok()?;
    let mut codec = ServerCodec::new(Limits {
        max_request_line: MAX_HEAD_BYTES,
        max_header_bytes: MAX_HEAD_BYTES,
        max_headers: 64,
        max_body_bytes: 1024,
    });
    let mut buf = [0u8; 4096];
    let mut ended = false;
    let request = loop {
        if let Some(request) = codec.poll_request() {
            break request;
        }
        if ended {
            // Closed before sending anything (a browser's spare connection).
            return None;
        }
        let want = codec.read_capacity().min(buf.len());
        let n = stream.read(&mut buf[..want]).await.ok()?;
        if n == 0 {
            codec.receive_eof();
            ended = true;
        } else {
            codec.receive(&buf[..n]);
        }
    };
    // One request per connection: a browser opens another for the next.
    codec.close_after_response();
    let mut unread = false;
    let outcome = match request {
        Err(error) => {
            let _ = codec.send_error(&error);
            unread = true;
            None
        }
        Ok(request) if request.path() != CALLBACK_PATH => {
            answer(&mut codec, 404, "Not found.");
            None
        }
        Ok(request) if request.method_str() != "GET" => {
            answer(&mut codec, 405, "Only GET.");
            None
        }
        Ok(request) if !state_matches(request.query(), state.as_deref()) => {
            answer(
                &mut codec,
                400,
                "This is not the authorization this program waits for.",
            );
            None
        }
        Ok(request) => {
            let head = ResponseHead::new(
                200,
                &[
                    ("content-type", "text/html; charset=utf-8"),
                    ("cache-control", "no-store"),
                ],
            );
            let _ = codec.send_response(&head, ResponseBody::Full(PAGE.as_bytes()));
            Some(format!("http://127.0.0.1:{port}{}", request.target()))
        }
    };
    let mut out = Vec::new();
    while codec.poll_transmit(&mut out, usize::MAX) > 0 {}
    // The callback counts even if the browser is gone before reading its page.
    let _ = stream.write_all(&out).await;
    let _ = stream.flush().await;
    if unread {
        // Closing with unread input would reset the connection, and the peer could lose the
        // answer: say we are done, then read what it still sends (until the deadline).
        let _ = stream.get_ref().shutdown(std::net::Shutdown::Write);
        while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    }
    outcome
}

fn answer(codec: &mut ServerCodec, status: u16, text: &str) {
    let head = ResponseHead::new(status, &[("content-type", "text/plain; charset=utf-8")]);
    let _ = codec.send_response(&head, ResponseBody::Full(text.as_bytes()));
}

/// Whether the query's `state` is the one expected (any, when none is).
fn state_matches(query: Option<&str>, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    mcpwire_core::client::auth::query_pairs(query.unwrap_or_default())
        .iter()
        .any(|(name, value)| name == "state" && value == expected)
}
