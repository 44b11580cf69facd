//! A static-document responder on 127.0.0.1 for the fetcher's and the key cache's unit tests:
//! it serves what a test put at a path, counts what it was asked, and can stall or go down.
//! End-to-end tests run against a real authorization server instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpListener;

#[derive(Clone)]
enum Route {
    Static {
        status: u16,
        content_type: String,
        body: String,
    },
    Chunked(String),
    /// Accepts, reads the request, and never answers.
    Stall,
    /// Answers `100 Continue` again and again, as fast as the peer reads, and never more.
    EndlessInterim,
    /// Bytes as given (a head, ended or not), then `x` for as long as the peer reads.
    Endless(String),
    /// A complete response as given, byte for byte.
    Raw(String),
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
    /// Every request's head and body, in arrival order.
    requests: Vec<String>,
    /// Every connection is closed at once, unanswered.
    down: bool,
    /// Bytes written by endless routes.
    endless_bytes: usize,
}

/// The responder; its task ends when it is dropped.
pub(crate) struct Responder {
    base: String,
    state: Arc<Mutex<State>>,
    _task: smol::Task<()>,
}

impl Responder {
    pub(crate) async fn start() -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = smol::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.retain(|t: &smol::Task<()>| !t.is_finished());
                connections.push(smol::spawn(answer(stream, shared.clone())));
            }
        });
        Responder {
            base,
            state,
            _task: task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn serve(&self, path: &str, status: u16, content_type: &str, body: &str) {
        self.route(
            path,
            Route::Static {
                status,
                content_type: content_type.into(),
                body: body.into(),
            },
        );
    }

    pub(crate) fn serve_json(&self, path: &str, body: &serde_json::Value) {
        self.serve(path, 200, "application/json", &body.to_string());
    }

    pub(crate) fn serve_chunked(&self, path: &str, body: &str) {
        self.route(path, Route::Chunked(body.into()));
    }

    pub(crate) fn stall(&self, path: &str) {
        self.route(path, Route::Stall);
    }

    pub(crate) fn endless_interim(&self, path: &str) {
        self.route(path, Route::EndlessInterim);
    }

    /// Answers `path` with `head` and then `x` without end, as fast as the peer reads (an
    /// endless body after a head ended with a blank line, an endless head otherwise);
    /// [`Responder::endless_bytes`] counts what it took.
    pub(crate) fn endless(&self, path: &str, head: &str) {
        self.route(path, Route::Endless(head.into()));
    }

    /// Answers `path` with `response`, byte for byte.
    pub(crate) fn raw(&self, path: &str, response: &str) {
        self.route(path, Route::Raw(response.into()));
    }

    /// Bytes the peers read of endless bodies so far.
    pub(crate) fn endless_bytes(&self) -> usize {
        self.state.lock().unwrap().endless_bytes
    }

    pub(crate) fn down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Requests for `path` so far (those answered while down too).
    pub(crate) fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    fn route(&self, path: &str, route: Route) {
        self.state.lock().unwrap().routes.insert(path.into(), route);
    }
}

async fn answer(mut stream: smol::net::TcpStream, state: Arc<Mutex<State>>) {
    if state.lock().unwrap().down {
        return;
    }
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    // The head, then as much body as its content-length says (bounded: tests send little).
    let head_end = loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 || request.len() > 64 * 1024 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(64 * 1024);
    while request.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let path = head
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .split('?')
        .next()
        .unwrap_or("")
        .to_string();
    let route = {
        let mut state = state.lock().unwrap();
        *state.hits.entry(path.clone()).or_default() += 1;
        state
            .requests
            .push(String::from_utf8_lossy(&request).into_owned());
        if state.down {
            return;
        }
        state.routes.get(&path).cloned()
    };
    let response = match route {
        Some(Route::Static {
            status,
            content_type,
            body,
        }) => format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        ),
        Some(Route::Chunked(body)) => {
            let mut out = String::from(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
            );
            for piece in body.as_bytes().chunks(1000) {
                out.push_str(&format!("{:x}\r\n", piece.len()));
                out.push_str(std::str::from_utf8(piece).unwrap());
                out.push_str("\r\n");
            }
            out.push_str("0\r\n\r\n");
            out
        }
        Some(Route::Stall) => {
            std::future::pending::<()>().await;
            return;
        }
        Some(Route::EndlessInterim) => {
            let interim = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(512);
            while stream.write_all(&interim).await.is_ok() {}
            return;
        }
        Some(Route::Endless(head)) => {
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            while stream.write_all(&chunk).await.is_ok() {
                state.lock().unwrap().endless_bytes += chunk.len();
            }
            return;
        }
        Some(Route::Raw(response)) => response,
        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.flush().await;
}
