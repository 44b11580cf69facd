//! `cargo fuzz run bus_publication` (from `tests/fuzz`): see [`mcpwire_fuzz::bus_publication`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpwire_fuzz::bus_publication(data));
