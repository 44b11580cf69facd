//! The section of BENCHMARKS.md on what protecting a server costs, between its own markers:
//! `tests/bench/run --scenarios auth-round-trips` rewrites it, and only it.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::Outcome;
use crate::machine::Machine;
use crate::report::{micros, ratio};
use crate::scenario::auth::{Results, Row};

pub const START: &str = "<!-- auth-bench:start -->";
pub const END: &str = "<!-- auth-bench:end -->";

pub struct AuthReport<'a> {
    pub machine: &'a Machine,
    pub results: &'a Results,
    pub command: &'a str,
    pub server_cpu: Option<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    pub measure: Duration,
    pub repeat: usize,
}

fn cell<T>(outcome: &Outcome<T>, show: impl Fn(&T) -> String) -> String {
    match outcome {
        Ok(value) => show(value),
        Err(error) => format!("failed: {}", error.chars().take(60).collect::<String>()),
    }
}

impl AuthReport<'_> {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = self.machine;
        let _ = writeln!(md, "{START}");
        let _ = writeln!(
            md,
            "## What a JWT on every request costs, against the peers\n"
        );
        let _ = writeln!(md, "```sh\n{}\n```\n", self.command);
        let _ = writeln!(
            md,
            "One run of that command measured this section, on {date}: {cpu}, {cpus} CPUs, \
             {kernel}, {rustc}. It took {secs:.0} s. The load generator is `mcpwire-bench` (Rust, \
             one tokio thread, keep-alive, `TCP_NODELAY`){pin}. The authorization server is \
             oidc-provider as tests/auth runs it (`tests/auth/as.mjs`); one RS256 JWT access \
             token (RFC 9068, client credentials, audience the server's resource, scope `mcp`) \
             is minted per server and sent as `Authorization: Bearer` on every call. Every \
             server is started fresh for each figure; each figure is the median of {repeat} \
             run{s}, the servers and variants taking turns. Stateless (2026-07-28) `echo` calls, \
             each connection sending its next as soon as the answer is in, {measure:.1} s \
             measured after {warmup:.1} s of warm-up. On this shared machine absolute figures \
             move by 20% or more from one run to the next, and by more while builds run beside \
             them: read the ratios, whose two sides ran seconds apart.\n",
            date = m.date,
            cpu = m.cpu,
            cpus = m.cpus,
            kernel = m.kernel,
            rustc = m.versions.rustc,
            secs = self.duration.as_secs_f64(),
            repeat = self.repeat,
            s = if self.repeat == 1 { "" } else { "s" },
            measure = self.measure.as_secs_f64(),
            warmup = self.warmup.as_secs_f64(),
            pin = match self.server_cpu {
                Some(cpu) => format!(
                    "; the servers are pinned to CPU {cpu} with `taskset` and the generator to another"
                ),
                None => String::from("; the machine has one CPU, so nothing is pinned"),
            },
        );
        let _ = writeln!(
            md,
            "- mcpwire: `mcpwire serve --resource http://127.0.0.1:PORT/mcp --auth-issuer \
             http://127.0.0.1:ASPORT --auth-scope mcp`, against `mcpwire serve` alone. It verifies \
             a token's signature and claims once and keeps the grant until the token expires; \
             every later request with the same token is a hash of the token and a lookup. The \
             table's JWT figures are that cached path; what each new token costs is the \
             verification below. `mcpwire serve` is the demo server (its `echo` takes `text`), \
             not the bench peer of the tables above, so its figures are its own.\n\
             - typescript-v2: `tests/bench/peers/typescript/server-v2.mjs` (@modelcontextprotocol/server \
             2.4.0, the TypeScript SDK's server for 2026-07-28; version 1.32.2 serves only the \
             session era) behind `requireBearerAuth` of @modelcontextprotocol/sdk 1.32.2 \
             (`server/auth/middleware/bearerAuth.js`) with a verifier of jose 6.2.17 \
             (`createRemoteJWKSet` on the issuer's `jwks_uri`, `jwtVerify` with `issuer` and \
             `audience`), against the same server without it. It verifies the signature on every \
             request.\n"
        );
        let _ = writeln!(
            md,
            "| peer | connections | round trips/s, no auth | round trips/s, JWT | JWT / no auth | JWT vs typescript-v2 JWT | p50 no auth | p50 JWT | p99 JWT |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let rows = &self.results.rows;
        let reference = |connections: usize| {
            rows.iter()
                .find(|r| r.peer == "typescript-v2" && r.connections == connections)
                .and_then(|r| r.jwt.as_ref().ok())
                .map(|rt| rt.per_second)
        };
        for Row {
            peer,
            connections,
            plain,
            jwt,
        } in rows
        {
            let per_second = |o: &Outcome<_>| {
                cell(o, |rt: &crate::scenario::round_trips::RoundTrips| {
                    format!("{:.0}", rt.per_second)
                })
            };
            let _ = writeln!(
                md,
                "| {peer} | {connections} | {} | {} | {} | {} | {} | {} | {} |",
                per_second(plain),
                per_second(jwt),
                ratio(
                    jwt.as_ref().ok().map(|r| r.per_second),
                    plain.as_ref().ok().map(|r| r.per_second)
                ),
                ratio(
                    jwt.as_ref().ok().map(|r| r.per_second),
                    reference(*connections)
                ),
                cell(plain, |rt| micros(u64::from(rt.p50_micros))),
                cell(jwt, |rt| micros(u64::from(rt.p50_micros))),
                cell(jwt, |rt| micros(u64::from(rt.p99_micros))),
            );
        }
        md.push('\n');
        let v = &self.results.verify;
        let _ = writeln!(
            md,
            "One verification of such a token (RS256, 2048-bit key; header, signature and every \
             claim), the keys already fetched, on the servers' CPU: the median of 15 rounds of \
             200 verifications of one token, and for mcpwire also callgrind's instruction count \
             (the difference of 250 and 50 verifications, over 200).\n\n\
             | verifier | per verification | instructions |\n| --- | ---: | ---: |"
        );
        let nanos = |o: &Option<Outcome<u64>>| match o {
            Some(o) => cell(o, |n| format!("{:.1} µs", *n as f64 / 1000.0)),
            None => "not run".into(),
        };
        let _ = writeln!(
            md,
            "| mcpwire `JwtVerifier::verify` (jsonwebtoken 10, RustCrypto `rsa`) | {} | {} |",
            nanos(&v.mcpwire_nanos),
            match &v.mcpwire_instructions {
                Some(o) => cell(o, |i| format!("{i:.0}")),
                None => "not run (no valgrind)".into(),
            }
        );
        let _ = writeln!(
            md,
            "| jose 6.2.17 `jwtVerify` on Node {} (WebCrypto) | {} | – |\n",
            m.versions.node,
            nanos(&v.jose_nanos)
        );
        let _ = writeln!(md, "{END}");
        md
    }

    /// Replaces the section between the markers in BENCHMARKS.md, or appends it.
    pub fn write(&self, repository: &Path) -> std::io::Result<()> {
        let path = repository.join("BENCHMARKS.md");
        let existing = std::fs::read_to_string(&path)?;
        let section = self.markdown();
        let updated = match (existing.find(START), existing.find(END)) {
            (Some(start), Some(end)) if start < end => format!(
                "{}{}{}",
                &existing[..start],
                section.trim_end(),
                &existing[end + END.len()..]
            ),
            _ => format!("{}\n\n{}", existing.trim_end_matches('\n'), section),
        };
        std::fs::write(path, updated)
    }
}
