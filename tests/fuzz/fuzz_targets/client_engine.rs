//! `cargo fuzz run client_engine` (from `tests/fuzz`): see [`mcpwire_fuzz::client_engine`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpwire_fuzz::client_engine(data));
