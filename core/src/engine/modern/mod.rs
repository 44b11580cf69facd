//! The stateless era (2026-07-28): what differs from the session era, over the plumbing both
//! share (connections, exchanges, streams, output, timers, the byte budget, the fan-out).
//!
//! A stateless request names no session: it carries its client's context in `_meta`. The
//! engine gives it a *stateless context*, a record shaped like a session (client capabilities,
//! log level, its one stream, its request, their bytes) with no wire id and no timer, owned by
//! the request's exchange: it ends when the response is complete, or when the client closes the
//! response stream, which in this era cancels the request.
//!
//! - [`envelope`]: from headers and `_meta` to an [`envelope::Envelope`] or the refusal
//!   (-32602, -32020, -32022), as a pure function.
//! - [`results`]: what every stateless result carries (`resultType`, `serverInfo`, caching
//!   hints), and `server/discover`.
//! - [`route`]: a stateless POST, from its envelope to the engine-answered methods, a listen
//!   stream, or the application.
//! - [`listen`]: `subscriptions/listen` streams: filter, acknowledgment, tagged frames.
//! - [`param_headers`]: `Mcp-Param-*` headers against the arguments a tool's schema annotates.
//! - [`input`]: input-required results and their sealed state.

pub(crate) mod envelope;
pub(crate) mod input;
pub(crate) mod listen;
pub(crate) mod param_headers;
pub(crate) mod results;
pub(crate) mod route;
