//! The ceiling for the benchmark: a keep-alive HTTP/1.1 server over `httparse` with no MCP,
//! no JSON parsing and no state but a list of sockets. It shows what the socket path alone
//! costs on the same core:
//!
//! - every POST gets one fixed JSON-RPC result (with a fixed `Mcp-Session-Id`, so that the
//!   generator's session setup goes through);
//! - a GET gets an SSE head and its socket joins the list of streams;
//! - a POST whose body names `broadcast` first writes one fixed notification chunk to every
//!   stream, back to back: the floor for the broadcast scenario.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static ALLOC: mcpwire_bench::CountingAllocator = mcpwire_bench::CountingAllocator;

const BODY: &str =
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}"#;
const STREAM_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
const NOTIFICATION: &str = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";

/// The open GET streams. A broadcast writes without waiting: a chunk this small fits in any
/// socket's send buffer, and a stream whose buffer is full is skipped, not waited for.
type Streams = Arc<Mutex<Vec<TcpStream>>>;

fn response() -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: bare\r\n\
         content-length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

fn broadcast(streams: &Streams) {
    let chunk = format!("{:x}\r\n{NOTIFICATION}\r\n", NOTIFICATION.len());
    let streams = streams.lock().expect("streams lock");
    for stream in streams.iter() {
        let _ = stream.try_write(chunk.as_bytes());
    }
}

/// Serves one connection: parse a head, skip its `Content-Length` body, answer, repeat.
async fn serve(mut stream: TcpStream, answer: &[u8], streams: Streams) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut filled = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer[..filled]) {
            Ok(httparse::Status::Complete(head)) => {
                let get = request.method == Some("GET");
                let body = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0);
                let total = head + body;
                if total > buffer.len() {
                    buffer.resize(total, 0);
                }
                while filled < total {
                    let n = stream.read(&mut buffer[filled..]).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    filled += n;
                }
                if get {
                    stream.write_all(STREAM_HEAD).await?;
                    streams.lock().expect("streams lock").push(stream);
                    return Ok(());
                }
                if buffer[head..total]
                    .windows(11)
                    .any(|w| w == b"\"broadcast\"")
                {
                    broadcast(&streams);
                }
                stream.write_all(answer).await?;
                buffer.copy_within(total..filled, 0);
                filled -= total;
                continue;
            }
            Ok(httparse::Status::Partial) => {}
            Err(_) => return Ok(()),
        }
        if filled == buffer.len() {
            return Ok(());
        }
        let n = stream.read(&mut buffer[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
    }
}

fn main() -> std::io::Result<()> {
    mcpwire_bench::report_heap_on_stdin();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", mcpwire_bench::port_argument())).await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ready")?;
        stdout.flush()?;
        drop(stdout);
        let answer: &'static [u8] = response().leak();
        let streams = Streams::default();
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let streams = streams.clone();
            // Unowned on purpose: this is a benchmark fixture, and every connection task ends
            // with the process, which the generator kills after each scenario.
            tokio::spawn(async move {
                let _ = serve(stream, answer, streams).await;
            });
        }
    })
}
