//! `cargo fuzz run client_response` (from `tests/fuzz`): see [`mcpwire_fuzz::client_response`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpwire_fuzz::client_response(data));
