//! mcpwire on [smol](https://docs.rs/smol): sockets, one timer and bounded channels around
//! `mcpwire-core`, with application handlers as tasks owned by their requests.
//!
//! The adapter is not written yet: this crate only reserves its place in the workspace and
//! builds the `mcpwire` binary's placeholder. Everything protocol-shaped lives in
//! `mcpwire-core`, which is complete as a foundation and tested on its own.
