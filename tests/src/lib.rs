//! Tests of mcpwire that span crates: the deterministic simulator, integration tests over real
//! sockets and interop with real MCP clients grow here.
