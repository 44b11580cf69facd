//! `cargo fuzz run engine_actions` (from `tests/fuzz`): see [`mcpwire_fuzz::engine_actions`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpwire_fuzz::engine_actions(data));
