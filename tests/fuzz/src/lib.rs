//! The fuzz targets' bodies, shared by the `cargo fuzz` binaries in `fuzz_targets/` and by the
//! stable `cargo test` that replays the committed corpus (`corpus/<target>/`).
//!
//! Each target turns arbitrary bytes into a run that must not panic and must keep every
//! invariant the code checks about itself:
//!
//! - [`http1_codec`]: bytes into a [`ServerCodec`], split where the input says, every request
//!   answered and every output drained, `check_invariants` after each step.
//! - [`jsonrpc_decode`]: a body into [`jsonrpc::decode`]; whatever decodes re-encodes to a
//!   message that decodes to the same bytes again.
//! - [`engine_actions`]: the deterministic simulator with every choice read from the bytes
//!   ([`Rng::from_bytes`]): connections, requests, faults, timeouts, application answers, and
//!   the liveness phase that requires every entity to end. `check_invariants` after every
//!   step.
//! - [`redis_resp`]: bytes from Redis into the bus's RESP2 reader, in the pieces the input
//!   says and whole: the same frames either way, each one what `redis-protocol` decodes, each
//!   byte scanned once.
//! - [`bus_publication`]: a message from another node; what a node takes re-publishes and
//!   parses to the same notice, and params are published exactly when a client can parse them.
//! - [`client_response`]: a response into the client's [`ResponseDecoder`] (and, for an event
//!   stream, its [`SseParser`]), in the pieces the input says and whole: the same head, body,
//!   events and errors either way, each within its bounds.
//! - [`client_engine`]: the client engine against a hostile server, every choice read from
//!   the bytes: plausible answers in either era mixed with random statuses, framings, ids,
//!   cuts and time jumps; `check_invariants` after every step, then a liveness phase. The
//!   same run from a seed: [`client_engine_seed`].
//! - [`proxy_header`]: a trusted proxy's first bytes into the PROXY protocol header reader,
//!   in the pieces the input says and whole: the same outcome either way, and a direct
//!   connection's bytes given back exactly.
//!
//! [`Rng::from_bytes`]: mcpwire_sim::Rng::from_bytes
//! [`ResponseDecoder`]: mcpwire_core::http1::ResponseDecoder
//! [`SseParser`]: mcpwire_core::sse::SseParser

mod bus;
mod client_engine;
mod client_response;
mod proxy_header;

pub use bus::{bus_publication, redis_resp};
pub use client_engine::{
    ClientEngineFailure, ClientEngineReport, client_engine, client_engine_seed,
};
pub use client_response::client_response;
pub use proxy_header::proxy_header;

use mcpwire_core::http1::{Limits, ResponseBody, ResponseHead, ServerCodec};
use mcpwire_core::jsonrpc::{self, Incoming};
use mcpwire_sim::{SimConfig, Simulation};

/// Answers every request the codec has and drains its output.
fn drive(codec: &mut ServerCodec, out: &mut Vec<u8>) {
    while let Some(request) = codec.poll_request() {
        let sent = match request {
            Ok(_) => codec.send_response(
                &ResponseHead::new(200, &[("content-type", "application/json")]),
                ResponseBody::Full(b"{}"),
            ),
            Err(error) => codec.send_error(&error),
        };
        sent.expect("the codec accepts an answer to the request it handed out");
    }
    while codec.poll_transmit(out, 64 * 1024) > 0 {}
    out.clear();
}

/// The first byte picks how the rest is split into reads (1 to 255 bytes, or whole when 0);
/// the second whether the limits are the defaults or tight ones, to reach every limit path.
pub fn http1_codec(data: &[u8]) {
    let [split, tight, input @ ..] = data else {
        return;
    };
    let split = if *split == 0 {
        usize::MAX
    } else {
        usize::from(*split)
    };
    let mut limits = Limits::default();
    if tight & 1 == 1 {
        limits.max_request_line = 64;
        limits.max_header_bytes = 256;
        limits.max_headers = 8;
        limits.max_body_bytes = 128;
    }
    let mut codec = ServerCodec::new(limits);
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() && !codec.wants_close() {
        let taken = codec.receive(&rest[..split.min(rest.len())]);
        rest = &rest[taken..];
        drive(&mut codec, &mut out);
        codec.check_invariants().expect("codec invariants");
        if taken == 0 && codec.read_capacity() == 0 {
            // Nothing more can go in: the connection is done with its input.
            break;
        }
    }
    codec.receive_eof();
    drive(&mut codec, &mut out);
    codec.check_invariants().expect("codec invariants");
}

/// A body decodes, or is refused with an error; what decodes re-encodes and decodes to the
/// same bytes.
pub fn jsonrpc_decode(data: &[u8]) {
    let Ok(incoming) = jsonrpc::decode(data) else {
        return;
    };
    let messages = match incoming {
        Incoming::Single(message) => vec![message],
        Incoming::Batch(entries) => entries.into_iter().filter_map(Result::ok).collect(),
    };
    for message in messages {
        let encoded = message.to_vec();
        match jsonrpc::decode(&encoded) {
            Ok(Incoming::Single(again)) => assert_eq!(again.to_vec(), encoded, "re-encoding"),
            other => panic!(
                "{} re-decoded as {other:?}",
                String::from_utf8_lossy(&encoded)
            ),
        }
    }
}

/// The simulator, its choices read from `data`: one step per two bytes, at most 400 (short
/// runs keep the fuzzer at hundreds of inputs a second; the seeded runs in CI go longer).
pub fn engine_actions(data: &[u8]) {
    let Some((&clients, script)) = data.split_first() else {
        return;
    };
    let steps = (script.len() as u64 / 2).min(400);
    let mut config = SimConfig::new(0, steps, 1 + usize::from(clients % 8));
    config.script = Some(script.to_vec());
    if let Err(failure) = Simulation::new(config).run() {
        panic!(
            "step {}: {}\nlast actions:\n{}",
            failure.step,
            failure.reason,
            failure.recent.join("\n")
        );
    }
}

#[cfg(test)]
mod replay {
    //! The committed corpus, replayed on stable: every input that once found something, and
    //! the coverage the fuzzer built, must still pass.

    use std::path::Path;

    fn replay(target: &str, run: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a corpus entry").path();
            let data = std::fs::read(&path).expect("a corpus file");
            run(&data);
            count += 1;
        }
        assert!(count > 0, "{} holds no inputs", dir.display());
    }

    #[test]
    fn http1_codec_corpus() {
        replay("http1_codec", super::http1_codec);
    }

    #[test]
    fn jsonrpc_decode_corpus() {
        replay("jsonrpc_decode", super::jsonrpc_decode);
    }

    #[test]
    fn engine_actions_corpus() {
        replay("engine_actions", super::engine_actions);
    }

    #[test]
    fn redis_resp_corpus() {
        replay("redis_resp", super::redis_resp);
    }

    #[test]
    fn bus_publication_corpus() {
        replay("bus_publication", super::bus_publication);
    }

    #[test]
    fn client_response_corpus() {
        replay("client_response", super::client_response);
    }

    #[test]
    fn client_engine_corpus() {
        replay("client_engine", super::client_engine);
    }

    #[test]
    fn proxy_header_corpus() {
        replay("proxy_header", super::proxy_header);
    }
}
