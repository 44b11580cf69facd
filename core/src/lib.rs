//! The sans-IO core of mcpwire: the Model Context Protocol's HTTP transport as a state machine
//! that cannot leak.
//!
//! Nothing in this crate performs IO, reads a clock, spawns a task or draws random numbers.
//! Inputs are bytes, application commands, entropy and the current [`time::Instant`]; outputs
//! are bytes, events and the next deadline. Every path a resource can take, from a client that
//! vanishes mid-stream to a clock that jumps backwards, is therefore a sequence of inputs that a
//! deterministic test can replay, and "nothing leaks" is an assertion over [`Stats`].
//!
//! # The pieces
//!
//! - [`engine`]: the MCP transport itself, Streamable HTTP and HTTP+SSE, as one state machine
//!   over connections, exchanges, sessions, streams and requests in both directions. Its
//!   module documentation teaches the run loop every adapter implements.
//! - [`http1`]: an incremental HTTP/1.1 server codec over `httparse`, with strict framing and
//!   limits that are enforced as the bytes arrive.
//! - [`lines`]: newline-delimited framing for stdio and other byte streams.
//! - [`sse`]: the Server-Sent Events encoder, and the parser clients and tests use.
//! - [`jsonrpc`]: JSON-RPC 2.0 messages and batches, with params kept as raw JSON.
//! - [`proxy_protocol`]: the PROXY protocol v2 header a trusted proxy sends before HTTP.
//! - [`time`] and [`timer`]: millisecond time owned by the core, per-entity timer tables and a
//!   deadline index that answers "what fires next?" in O(log n).
//! - [`entropy`]: the seedable generator session ids come from.
//! - [`Stats`] and [`InvariantViolation`]: leak accounting that every component reports.
//!
//! # Driving one connection's codec
//!
//! Every component follows the same loop: feed inputs, drain outputs, then sleep until the next
//! deadline or input. Here it is for one HTTP connection, with a `Vec` standing in for the
//! socket:
//!
//! ```
//! use mcpwire_core::http1::{Limits, ResponseBody, ResponseHead, ServerCodec};
//! use mcpwire_core::jsonrpc::{self, Incoming, Message};
//!
//! let mut conn = ServerCodec::new(Limits::default());
//! let mut socket_out = Vec::new();
//!
//! // 1. Feed what the socket read (in any split).
//! let wire = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40\r\n\r\n\
//!              {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
//! for byte in wire.chunks(1) {
//!     assert_eq!(conn.receive(byte), 1);
//! }
//!
//! // 2. Drain requests and answer them.
//! while let Some(request) = conn.poll_request() {
//!     let request = request.expect("well-formed");
//!     let Ok(Incoming::Single(Message::Request(ping))) = jsonrpc::decode(request.body()) else {
//!         unreachable!()
//!     };
//!     let body = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, ping.id);
//!     let head = ResponseHead::new(200, &[("content-type", "application/json")]);
//!     conn.send_response(&head, ResponseBody::Full(body.as_bytes())).unwrap();
//! }
//!
//! // 3. Drain output to the socket; close it when the codec says so.
//! while conn.poll_transmit(&mut socket_out, 64 * 1024) > 0 {}
//! assert!(socket_out.ends_with(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
//! assert!(!conn.wants_close());
//! ```
//!
//! # Panics
//!
//! None on peer input, whatever the bytes: a panic inside this crate is a bug in mcpwire.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

mod ascii;
pub mod client;
pub mod engine;
pub mod entropy;
pub mod http1;
mod invariant;
pub mod jsonrpc;
pub mod lines;
pub mod proxy_protocol;
pub mod sse;
mod stats;
pub mod time;
pub mod timer;

pub use invariant::InvariantViolation;
pub use stats::{HeldBytes, Stats};
