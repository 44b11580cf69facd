//! What one verification of a JWT access token costs mcpwire: `JwtVerifier::verify` (header,
//! signature, every claim) with the issuer's keys already cached, the work `mcpwire serve
//! --auth-issuer` does once for each token it has not seen (and then keeps the grant until the
//! token expires).
//!
//! Usage: bench-jwt-verify ISSUER RESOURCE TOKEN ROUNDS BATCH
//!
//! Verifies the token once (fetching the keys), then times ROUNDS rounds of BATCH verifications
//! and prints the median round's nanoseconds per verification. Under callgrind, two runs with
//! different BATCH give the instructions of one verification from the difference of the totals.

use std::time::Instant;

use mcpwire_smol::auth::{JwtVerifier, Verdict, Verifier};

fn main() -> Result<(), String> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, resource, token, rounds, batch] = arguments.as_slice() else {
        return Err("usage: bench-jwt-verify ISSUER RESOURCE TOKEN ROUNDS BATCH".into());
    };
    let count = |text: &str| text.parse::<usize>().map_err(|e| format!("{text}: {e}"));
    let (rounds, batch) = (count(rounds)?.max(1), count(batch)?);
    let verifier = JwtVerifier::builder(issuer, resource)
        .build()
        .map_err(|e| e.to_string())?;
    smol::block_on(async {
        let verify = async || match verifier.verify(token.clone()).await {
            Verdict::Granted(_) => Ok(()),
            other => Err(format!("the token was not granted: {other:?}")),
        };
        verify().await?;
        let mut per_round = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            for _ in 0..batch {
                verify().await?;
            }
            per_round.push(started.elapsed().as_nanos() / batch.max(1) as u128);
        }
        per_round.sort_unstable();
        println!("{}", per_round[(per_round.len() - 1) / 2]);
        Ok(())
    })
}
