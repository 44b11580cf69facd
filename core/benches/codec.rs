//! Codec throughput on typical MCP POSTs, next to bare `httparse` on the same bytes.
//!
//! `cargo bench -p mcpwire-core --bench codec` prints a Markdown table for BENCHMARKS.md.
//! Each figure is the median of several timed samples; ratios compare rows measured in the same
//! run, on the same input, so machine noise mostly cancels.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mcpwire_core::http1::{Limits, ResponseBody, ResponseHead, ServerCodec};
use mcpwire_core::jsonrpc;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{},"elicitation":{},"roots":{"listChanged":true}},"clientInfo":{"name":"mcp-inspector","version":"0.17.0"}}}"#;
const TOOLS_CALL: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello world"},"_meta":{"progressToken":3}}}"#;

/// The head a Node (undici) MCP client sends, as seen on the wire.
fn post(body: &str, session: bool) -> Vec<u8> {
    let mut head = String::from(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:3000\r\nconnection: keep-alive\r\n\
         content-type: application/json\r\naccept: application/json, text/event-stream\r\n\
         user-agent: node\r\naccept-language: *\r\nsec-fetch-mode: cors\r\n\
         accept-encoding: gzip, deflate\r\n",
    );
    if session {
        head.push_str(
            "mcp-session-id: 3fa85f64-5717-4562-b3fc-2c963f66afa6\r\n\
             mcp-protocol-version: 2025-11-25\r\n",
        );
    }
    head.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    head.into_bytes()
}

/// The ceiling: httparse on the head, then the body located by its Content-Length. No copies,
/// no framing checks, no limits.
fn bare_httparse(wire: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = request.parse(wire) else {
        panic!("bench input must parse")
    };
    let length: usize = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
        .unwrap_or(0);
    black_box(&wire[head_len..head_len + length]).len()
}

/// A fresh connection per request: receive, parse, hand out the owned request.
fn codec_parse(wire: &[u8]) -> usize {
    let mut conn = ServerCodec::new(Limits::default());
    conn.receive(wire);
    let request = conn.poll_request().unwrap().unwrap();
    black_box(&request).body().len()
}

/// The same bytes fed one at a time: the cost a slowloris client can impose.
fn codec_parse_bytewise(wire: &[u8]) -> usize {
    let mut conn = ServerCodec::new(Limits::default());
    for byte in wire.chunks(1) {
        conn.receive(byte);
    }
    let request = conn.poll_request().unwrap().unwrap();
    black_box(&request).body().len()
}

/// One keep-alive exchange on a long-lived connection: parse, a 202 response, drain output.
struct KeepAlive {
    conn: ServerCodec,
    out: Vec<u8>,
}

impl KeepAlive {
    fn round(&mut self, wire: &[u8]) -> usize {
        self.conn.receive(wire);
        let request = self.conn.poll_request().unwrap().unwrap();
        let n = black_box(&request).body().len();
        self.conn
            .send_response(&ResponseHead::new(202, &[]), ResponseBody::Empty)
            .unwrap();
        self.out.clear();
        while self.conn.poll_transmit(&mut self.out, usize::MAX) > 0 {}
        n + self.out.len()
    }
}

/// Median nanoseconds per call of `f` over several samples of about 100 ms each.
fn measure(mut f: impl FnMut() -> usize) -> f64 {
    // Calibrate the batch size to roughly 100 ms.
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        if start.elapsed() > Duration::from_millis(100) {
            break;
        }
        batch *= 2;
    }
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--test`-like flags; only measure under
    // `cargo bench`, which passes `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cases = [
        ("initialize", post(INITIALIZE, false), INITIALIZE),
        ("tools/call", post(TOOLS_CALL, true), TOOLS_CALL),
    ];
    println!(
        "Machine: {}, {} cores. Median of 9 samples.\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| input | bytes | what | ns/request | requests/s | throughput vs baseline |");
    println!("| --- | ---: | --- | ---: | ---: | ---: |");
    for (name, wire, body) in &cases {
        let ceiling = measure(|| bare_httparse(wire));
        let mut keep_alive = KeepAlive {
            conn: ServerCodec::new(Limits::default()),
            out: Vec::with_capacity(256),
        };
        let to_value = measure(|| {
            let value: serde_json::Value = serde_json::from_slice(body.as_bytes()).unwrap();
            black_box(value).as_object().map_or(0, |o| o.len())
        });
        let rows = [
            (
                "bare httparse: head, body slice (baseline)",
                ceiling,
                ceiling,
            ),
            (
                "ServerCodec: parse, fresh connection",
                measure(|| codec_parse(wire)),
                ceiling,
            ),
            (
                "ServerCodec: keep-alive round (parse, 202, drain)",
                measure(|| keep_alive.round(wire)),
                ceiling,
            ),
            (
                "ServerCodec: parse, fed 1 byte at a time",
                measure(|| codec_parse_bytewise(wire)),
                ceiling,
            ),
            (
                "serde_json::Value of the body (baseline)",
                to_value,
                to_value,
            ),
            (
                "jsonrpc::decode of the body",
                measure(|| match jsonrpc::decode(body.as_bytes()) {
                    Ok(jsonrpc::Incoming::Single(m)) => black_box(m).method().map_or(0, str::len),
                    _ => panic!("bench body must decode"),
                }),
                to_value,
            ),
        ];
        for (what, ns, baseline) in rows {
            println!(
                "| {name} | {} | {what} | {ns:.0} | {:.2} M | {:.2}x |",
                if what.contains("of the body") {
                    body.len()
                } else {
                    wire.len()
                },
                1e3 / ns,
                baseline / ns
            );
        }
    }
}
