//! `cargo fuzz run http1_codec` (from `tests/fuzz`): see [`mcpwire_fuzz::http1_codec`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpwire_fuzz::http1_codec(data));
