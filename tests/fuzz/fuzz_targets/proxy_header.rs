//! `cargo fuzz run proxy_header` (from `tests/fuzz`): see [`mcpwire_fuzz::proxy_header`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpwire_fuzz::proxy_header(data));
