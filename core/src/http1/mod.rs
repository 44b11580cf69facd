//! A sans-IO HTTP/1.1 codec over [`httparse`]: the server side, and the client side
//! ([`encode_request`], [`ResponseDecoder`]) the MCP client engine speaks.
//!
//! [`ServerCodec`] turns the bytes of one connection into [`Request`]s and the responses you
//! give it back into bytes. It never touches a socket or a clock: the engine (or a test) feeds
//! bytes in with [`ServerCodec::receive`], takes output with [`ServerCodec::poll_transmit`], and
//! picks timers from [`ServerCodec::phase`]. Keeping the framing here, rather than in an HTTP
//! library, is what lets the simulator see every connection's lifetime.
//!
//! What it does:
//!
//! - Incremental parsing: any split of the input, down to one byte at a time, yields the same
//!   requests. A head is parsed once, when its blank line has arrived; bytes are scanned once.
//! - `Content-Length` and chunked request bodies, keep-alive and `Connection: close`,
//!   HTTP/1.0, pipelined requests answered in order, `Expect: 100-continue`.
//! - Strict framing (RFC 9112 §6): conflicting or repeated `Content-Length`, `Transfer-Encoding`
//!   with `Content-Length`, codings other than a single final `chunked`, a missing or repeated
//!   `Host` in HTTP/1.1, bare LF inside chunked framing: each is refused, never guessed at.
//! - Limits checked as bytes arrive ([`Limits`]); each has its status. After any request error
//!   the connection answers and closes.
//! - Responses with a length, or streaming (chunked for HTTP/1.1, close-delimited for HTTP/1.0)
//!   with a clean end; `HEAD` responses without a body; shared payloads queued by reference.
//!
//! It never panics on peer input, whatever the bytes.

mod chunked;
mod client;
mod conn;
mod error;
mod head;
mod limits;
mod output;
mod request;
mod response;

pub use client::{
    BodyFraming, Decoded, HeaderInjection, ResponseDecoder, ResponseError, ResponseHeader,
    ResponseLimits, encode_request,
};
pub use conn::{Phase, ServerCodec};
pub use error::RequestError;
pub use limits::{Limits, MAX_CHUNK_LINE, MAX_HEADERS_CAP};
pub use output::{OutQueue, Payload};
pub use request::{BuildError, Method, Request, RequestBuilder, Version};
pub use response::{ResponseBody, ResponseHead, SendError, reason_phrase};

#[cfg(test)]
mod tests;
