//! `cargo fuzz run jsonrpc_decode` (from `tests/fuzz`): see [`mcpwire_fuzz::jsonrpc_decode`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpwire_fuzz::jsonrpc_decode(data));
