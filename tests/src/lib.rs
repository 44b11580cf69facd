//! Tests of mcpwire that span crates: the deterministic simulator, integration tests over real
//! sockets and interop with real MCP clients grow here.

/// The README's Rust examples, compiled and run by `cargo test` so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
