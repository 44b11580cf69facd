//! mcpwire for browsers and edge runtimes: `mcpwire-core` behind a fetch-style handler, built
//! for `wasm32-unknown-unknown` with wasm-bindgen.
//!
//! The bindings are not written yet: this crate only reserves its place in the workspace. The
//! core it will wrap already builds for `wasm32-unknown-unknown`.
