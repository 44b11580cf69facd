//! `cargo fuzz run redis_resp` (from `tests/fuzz`): see [`mcpwire_fuzz::redis_resp`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpwire_fuzz::redis_resp(data));
