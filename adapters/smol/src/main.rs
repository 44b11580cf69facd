//! The `mcpwire` server binary. Until the smol adapter exists it explains itself and exits.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "mcpwire {}: the server arrives with the smol adapter, which is not built yet.\n\
         What exists today is the sans-IO core (crate mcpwire-core) and its simulator:\n\
         `cargo test` runs the suite; `cargo run --release -p mcpwire-sim -- --seeds 256` runs\n\
         the deterministic simulation.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
