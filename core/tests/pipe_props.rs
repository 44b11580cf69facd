//! A pipe's input cut at arbitrary points: the engine sees the same messages in the same order
//! and writes the same answers as when the stream arrives in one piece, the invariants hold
//! after every step, and after EOF nothing is left.

use mcpwire_core::engine::{Config, ConnAction, ConnId, Engine, Event, Reply};
use mcpwire_core::jsonrpc::RawValue;
use mcpwire_core::time::Instant;
use proptest::prelude::*;

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
const LIMIT: usize = 300;

#[derive(Debug, Clone)]
enum Line {
    Call(u8),
    Ping(u8),
    Garbage(Vec<u8>),
    TooLong(usize),
    Blank,
    Cancel(u8),
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => any::<u8>().prop_map(Line::Call),
        2 => any::<u8>().prop_map(Line::Ping),
        1 => proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 1..40)
            .prop_map(Line::Garbage),
        1 => (LIMIT + 1..LIMIT * 4).prop_map(Line::TooLong),
        1 => Just(Line::Blank),
        1 => any::<u8>().prop_map(Line::Cancel),
    ]
}

/// The byte stream a host writes: an opening line for the era, then `lines`, some with CRLF.
fn stream(modern: bool, lines: &[(Line, bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    let push = |out: &mut Vec<u8>, text: &[u8], crlf: bool| {
        out.extend_from_slice(text);
        out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    };
    if !modern {
        push(
            &mut out,
            br#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#,
            false,
        );
        push(
            &mut out,
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            false,
        );
    }
    for (n, (line, crlf)) in lines.iter().enumerate() {
        let text = match line {
            Line::Call(id) if modern => format!(
                r#"{{"jsonrpc":"2.0","id":"{n}-{id}","method":"tools/call","params":{{{META},"name":"t"}}}}"#
            ),
            Line::Call(id) => format!(
                r#"{{"jsonrpc":"2.0","id":"{n}-{id}","method":"tools/call","params":{{"name":"t"}}}}"#
            ),
            Line::Ping(id) if modern => format!(
                r#"{{"jsonrpc":"2.0","id":"{n}-{id}","method":"server/discover","params":{{{META}}}}}"#
            ),
            Line::Ping(id) => format!(r#"{{"jsonrpc":"2.0","id":"{n}-{id}","method":"ping"}}"#),
            Line::Garbage(bytes) => {
                push(&mut out, bytes, *crlf);
                continue;
            }
            Line::TooLong(len) => " ".repeat(*len - 2) + "{}",
            Line::Blank => String::new(),
            Line::Cancel(id) => format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":"{id}"}}}}"#
            ),
        };
        push(&mut out, text.as_bytes(), *crlf);
    }
    out
}

/// What the run looked like from outside: the messages the application saw, in order, and the
/// lines written to the host, sorted (an answer the application gives after reading more input
/// may come before or after the engine's own answers to that input, by where the cuts fall).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    requests: Vec<String>,
    lines: Vec<Vec<u8>>,
}

struct Host {
    engine: Engine,
    pipe: ConnId,
    out: Vec<u8>,
    requests: Vec<String>,
    closed: bool,
}

impl Host {
    /// Writes what the engine has, answers every request at once, until nothing moves.
    fn drain(&mut self) {
        let now = Instant::ZERO;
        loop {
            if let Err(violation) = self.engine.check_invariants() {
                panic!("{violation}");
            }
            let mut moved = false;
            let mut buf = Vec::new();
            match self.engine.poll_transmit(&mut buf) {
                Some(ConnAction::Write { conn, len }) => {
                    assert_eq!(conn, self.pipe);
                    self.out.extend_from_slice(&buf);
                    self.engine.handle_written(now, conn, len);
                    moved = true;
                }
                Some(ConnAction::Close { conn }) => {
                    assert_eq!(conn, self.pipe);
                    self.closed = true;
                    moved = true;
                }
                None => {}
            }
            while let Some(event) = self.engine.poll_event() {
                if let Event::Request {
                    handle,
                    method,
                    params,
                } = event
                {
                    let len = params.map_or(0, |p| p.get().len());
                    self.requests.push(format!("{method} {len}"));
                    let result = RawValue::from_string(r#"{"content":[]}"#.into()).unwrap();
                    let _ = self.engine.respond(now, handle, &Reply::Result(result));
                }
                moved = true;
            }
            while self.engine.poll_readable().is_some() {}
            if !moved {
                return;
            }
        }
    }
}

fn run(input: &[u8], cuts: &[usize]) -> Seen {
    let mut config = Config::new("props", "1");
    config.limits.http.max_body_bytes = LIMIT;
    let mut engine = Engine::new(config, Instant::ZERO, [7; 32]);
    let now = Instant::ZERO;
    let pipe = engine.open_pipe(now);
    let mut host = Host {
        engine,
        pipe,
        out: Vec::new(),
        requests: Vec::new(),
        closed: false,
    };
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    for end in bounds {
        while at < end {
            let n = host.engine.handle_bytes(now, pipe, &input[at..end]);
            host.drain();
            assert!(n > 0, "stuck at {at}");
            if n == 0 {
                break;
            }
            at += n;
        }
    }
    assert_eq!(at, input.len(), "everything was read");
    host.engine.handle_eof(now, pipe);
    host.drain();
    assert!(host.closed, "EOF with nothing in flight closes the pipe");
    let stats = host.engine.stats();
    assert_eq!(
        (
            stats.connections,
            stats.sessions,
            stats.streams,
            stats.exchanges
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(stats.held.total(), 0, "{stats}");
    let mut lines: Vec<Vec<u8>> = host
        .out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    for l in &lines {
        assert!(
            serde_json::from_slice::<serde_json::Value>(l).is_ok(),
            "a JSON line"
        );
    }
    lines.sort();
    Seen {
        requests: host.requests,
        lines,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_split_of_the_input_gives_the_same_messages(
        modern in any::<bool>(),
        lines in proptest::collection::vec((line(), any::<bool>()), 0..24),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        byte_by_byte in any::<bool>(),
    ) {
        let input = stream(modern, &lines);
        let whole = run(&input, &[]);
        let cuts = if byte_by_byte { (0..input.len()).collect() } else { cuts };
        let split = run(&input, &cuts);
        prop_assert_eq!(whole, split);
    }
}
