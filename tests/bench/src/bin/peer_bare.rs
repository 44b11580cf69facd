//! The ceiling for the round-trip benchmark: a keep-alive HTTP/1.1 server over `httparse`
//! that answers every request with one fixed JSON-RPC result, with no MCP, no sessions and no
//! JSON parsing. It shows what the socket path alone costs on the same core.

use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static ALLOC: mcpwire_bench::CountingAllocator = mcpwire_bench::CountingAllocator;

const BODY: &str =
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}"#;

fn response() -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

/// Serves one connection: parse a head, skip its `Content-Length` body, answer, repeat.
async fn serve(mut stream: TcpStream, answer: &[u8]) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut filled = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer[..filled]) {
            Ok(httparse::Status::Complete(head)) => {
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
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let _ = serve(stream, answer).await;
            });
        }
    })
}
