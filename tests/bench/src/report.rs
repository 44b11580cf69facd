//! The run's figures as Markdown tables (each with its ratio to rmcp from the same run) and
//! SVG charts, written into BENCHMARKS.md between markers.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::machine::Machine;
use crate::svg::{Series, grouped_bars};
use crate::{Outcome, PeerResults, Sizes};

pub const START: &str = "<!-- peers-bench:start -->";
pub const END: &str = "<!-- peers-bench:end -->";
const CHARTS: &str = "tests/bench/charts";

pub struct Report<'a> {
    pub machine: &'a Machine,
    pub sizes: &'a Sizes,
    pub results: &'a [PeerResults],
    pub command: &'a str,
    pub server_cpu: Option<usize>,
    pub duration: Duration,
}

/// One colour per peer, in every chart.
fn color(peer: &str) -> &'static str {
    match peer {
        "mcpwire" => "#d9480f",
        "rmcp" => "#1c7ed6",
        "typescript" => "#2f9e44",
        "typescript-v2" => "#66a80f",
        "python" => "#7048e8",
        _ => "#868e96",
    }
}

fn ok<T>(outcome: Option<&Outcome<T>>) -> Option<&T> {
    outcome.and_then(|o| o.as_ref().ok())
}

pub fn ratio(value: Option<f64>, reference: Option<f64>) -> String {
    match (value, reference) {
        (Some(v), Some(r)) if r > 0.0 => format!("{:.2}x", v / r),
        _ => "–".into(),
    }
}

pub fn micros(value: u64) -> String {
    if value >= 10_000 {
        format!("{:.1} ms", value as f64 / 1000.0)
    } else {
        format!("{value} µs")
    }
}

fn kib(bytes: f64) -> String {
    format!("{:.1} KiB", bytes / 1024.0)
}

/// The failure text of an outcome, shortened for a table cell.
fn failure<T>(outcome: Option<&Outcome<T>>) -> String {
    match outcome {
        Some(Err(error)) => {
            let short: String = error.chars().take(80).collect();
            format!("failed: {}", short.replace('|', "/"))
        }
        _ => "–".into(),
    }
}

/// One fan-out's row: when its streams had the notification, against `reference`.
fn delivery_row(
    md: &mut String,
    peer: &str,
    streams: usize,
    outcome: Option<&Outcome<crate::scenario::broadcast::Broadcast>>,
    reference: Option<f64>,
) {
    let Some(b) = ok(outcome) else {
        let _ = writeln!(md, "| {peer} | {streams} | {} | | | | |", failure(outcome));
        return;
    };
    let complete = b.delivered == b.streams;
    let _ = writeln!(
        md,
        "| {peer} | {streams} | {} | {} | {} | {} | {} |",
        b.delivered,
        micros(b.call_micros),
        micros(b.p50_micros),
        if complete {
            micros(b.all_micros)
        } else {
            "not all".into()
        },
        if complete {
            ratio(Some(b.all_micros as f64), reference)
        } else {
            "–".into()
        }
    );
}

impl Report<'_> {
    fn rmcp(&self) -> Option<&PeerResults> {
        self.results.iter().find(|r| r.peer.name == "rmcp")
    }

    fn round_trip(
        results: &PeerResults,
        connections: usize,
    ) -> Option<&crate::scenario::round_trips::RoundTrips> {
        results
            .round_trips
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .find(|r| r.connections == connections)
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = self.machine;
        let _ = writeln!(md, "{START}");
        let _ = writeln!(md, "## Against the peers, over sockets\n");
        let _ = writeln!(md, "```sh\n{}\n```\n", self.command);
        let _ = writeln!(
            md,
            "One run of that command measured everything in this section, on {date}: {cpu}, {cpus} \
             CPUs, {kernel}, {rustc}. It took {secs:.0} s. The load generator is `mcpwire-bench` \
             (Rust, one tokio thread, keep-alive, `TCP_NODELAY`){pin}. Every server is started \
             fresh for each scenario, on 127.0.0.1, with its SDK's defaults. Ratios divide a peer's \
             figure by rmcp's from the same run. Every scenario ran {repeat} time{s}, the peers \
             taking turns, and each figure is from the run with the median of the scenario's \
             main figure: on this shared machine one run moves absolute figures by 20% or more.\n",
            repeat = self.sizes.repeat,
            s = if self.sizes.repeat == 1 { "" } else { "s" },
            date = m.date,
            cpu = m.cpu,
            cpus = m.cpus,
            kernel = m.kernel,
            rustc = m.versions.rustc,
            secs = self.duration.as_secs_f64(),
            pin = match self.server_cpu {
                Some(cpu) => format!(
                    "; the servers are pinned to CPU {cpu} with `taskset` and the generator to another"
                ),
                None => String::from("; the machine has one CPU, so nothing is pinned"),
            },
        );
        let _ = writeln!(
            md,
            "| peer | what | live heap measured by |\n| --- | --- | --- |"
        );
        for r in self.results {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                r.peer.name, r.peer.label, r.peer.heap_method
            );
        }
        md.push('\n');
        self.targets(&mut md);
        self.round_trips_table(&mut md);
        self.stateless_table(&mut md);
        self.churn_table(&mut md);
        self.heap_table(&mut md);
        self.listen_heap_table(&mut md);
        self.broadcast_table(&mut md);
        self.slow_reader_table(&mut md);
        self.shutdown_table(&mut md);
        self.listen_broadcast_table(&mut md);
        self.busy_handler_table(&mut md);
        self.scale_table(&mut md);
        self.instructions_table(&mut md);
        let _ = writeln!(md, "{END}");
        md
    }

    fn targets(&self, md: &mut String) {
        let Some(ours) = self.results.iter().find(|r| r.peer.name == "mcpwire") else {
            return;
        };
        let rmcp = self.rmcp();
        let verdict = |met: Option<bool>| match met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "not measured",
        };
        let _ = writeln!(md, "### DESIGN.md targets in this run\n");
        let _ = writeln!(md, "| target | measured | |\n| --- | --- | --- |");
        let heap = ok(ours.heap.as_ref());
        let idle = heap.map(|h| h.idle_session);
        let _ = writeln!(
            md,
            "| live heap per idle session <= 4 KB | {} | {} |",
            idle.map_or("–".into(), kib),
            verdict(idle.map(|b| b <= 4096.0))
        );
        let stream = heap.map(|h| h.session_with_stream);
        let _ = writeln!(
            md,
            "| ... with an open GET stream <= 16 KB | {} | {} |",
            stream.map_or("–".into(), kib),
            verdict(stream.map(|b| b <= 16384.0))
        );
        let ours64 = Self::round_trip(ours, 64).map(|r| r.per_second);
        let rmcp64 = rmcp
            .and_then(|r| Self::round_trip(r, 64))
            .map(|r| r.per_second);
        let _ = writeln!(
            md,
            "| `tools/call` round trips/s at 64 connections >= 1.5x rmcp | {} | {} |",
            ratio(ours64, rmcp64),
            verdict(ours64.zip(rmcp64).map(|(a, b)| a >= 1.5 * b))
        );
        let churn = |r: &PeerResults| ok(r.churn.as_ref()).map(|c| c.sessions_per_second);
        let (ours_churn, rmcp_churn) = (churn(ours), rmcp.and_then(churn));
        let _ = writeln!(
            md,
            "| session churn >= 2x rmcp | {} | {} |",
            ratio(ours_churn, rmcp_churn),
            verdict(ours_churn.zip(rmcp_churn).map(|(a, b)| a >= 2.0 * b))
        );
        let big = ours
            .broadcasts
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .find(|b| b.streams == 10_000);
        let _ = writeln!(
            md,
            "| broadcast to 10,000 open streams, all delivered in < 50 ms | {} | {} |",
            big.map_or("–".into(), |b| format!(
                "{} of {} in {}",
                b.delivered,
                b.streams,
                micros(b.all_micros)
            )),
            verdict(big.map(|b| b.delivered == b.streams && b.all_micros < 50_000))
        );
        let floor = self
            .results
            .iter()
            .find(|r| r.peer.name == "bare")
            .and_then(|r| {
                r.broadcasts
                    .iter()
                    .filter_map(|o| o.as_ref().ok())
                    .find(|b| b.streams == 10_000)
            });
        if let Some(floor) = floor {
            let _ = writeln!(
                md,
                "| ... the floor on this machine: the bare server writing one chunk to each of the 10,000 sockets | {} of {} in {} | |",
                floor.delivered,
                floor.streams,
                micros(floor.all_micros)
            );
        }
        let _ = writeln!(
            md,
            "| broadcast core cost < 200 ns per recipient | see [the engine](#the-engine) | |"
        );
        let _ = writeln!(
            md,
            "| sessions, streams, connections, timers, queued bytes, tasks and fds back to baseline after churn, faults and timeouts | checked by tests, not timed here: `server/tests/leaks.rs`, the simulator, the interop leak check | |"
        );
        md.push('\n');
    }

    fn round_trips_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### `tools/call` round trips\n\nEach connection has its own session and sends its next \
             `echo` call as soon as the answer is in; {:.1} s measured after {:.1} s of warm-up. \
             Higher is better for round trips/s.\n",
            self.sizes.measure.as_secs_f64(),
            self.sizes.warmup.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| peer | connections | round trips/s | vs rmcp | p50 | p99 |\n| --- | ---: | ---: | ---: | ---: | ---: |"
        );
        for &connections in &self.sizes.connections {
            let reference = self
                .rmcp()
                .and_then(|r| Self::round_trip(r, connections))
                .map(|r| r.per_second);
            for r in self.results.iter().filter(|r| r.peer.serves("round-trips")) {
                match Self::round_trip(r, connections) {
                    Some(rt) => {
                        let _ = writeln!(
                            md,
                            "| {} | {connections} | {:.0} | {} | {} | {} |",
                            r.peer.name,
                            rt.per_second,
                            ratio(Some(rt.per_second), reference),
                            micros(u64::from(rt.p50_micros)),
                            micros(u64::from(rt.p99_micros))
                        );
                    }
                    None => {
                        let position = self
                            .sizes
                            .connections
                            .iter()
                            .position(|&c| c == connections);
                        let _ = writeln!(
                            md,
                            "| {} | {connections} | {} | | | |",
                            r.peer.name,
                            failure(position.and_then(|p| r.round_trips.get(p)))
                        );
                    }
                }
            }
        }
        let _ = writeln!(
            md,
            "\n![round trips per second](tests/bench/charts/throughput.svg)\n"
        );
    }

    fn stateless_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Stateless `tools/call` round trips (2026-07-28)\n\nNo session: every call \
             carries its context in `_meta` and the `MCP-Protocol-Version`, `Mcp-Method` and \
             `Mcp-Name` headers; each connection sends its next `echo` call as soon as the answer \
             is in; {:.1} s measured after {:.1} s of warm-up. Peers that serve only the session \
             era are left out. Higher is better for round trips/s.\n",
            self.sizes.measure.as_secs_f64(),
            self.sizes.warmup.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| peer | connections | round trips/s | vs rmcp | p50 | p99 |\n| --- | ---: | ---: | ---: | ---: | ---: |"
        );
        let find = |r: &PeerResults, connections: usize| {
            r.stateless_round_trips
                .iter()
                .filter_map(|o| o.as_ref().ok())
                .find(|x| x.connections == connections)
                .cloned()
        };
        for (position, &connections) in self.sizes.connections.iter().enumerate() {
            let reference = self
                .rmcp()
                .and_then(|r| find(r, connections))
                .map(|r| r.per_second);
            for r in self
                .results
                .iter()
                .filter(|r| r.peer.serves("stateless-round-trips"))
            {
                match find(r, connections) {
                    Some(rt) => {
                        let _ = writeln!(
                            md,
                            "| {} | {connections} | {:.0} | {} | {} | {} |",
                            r.peer.name,
                            rt.per_second,
                            ratio(Some(rt.per_second), reference),
                            micros(u64::from(rt.p50_micros)),
                            micros(u64::from(rt.p99_micros))
                        );
                    }
                    None => {
                        let _ = writeln!(
                            md,
                            "| {} | {connections} | {} | | | |",
                            r.peer.name,
                            failure(r.stateless_round_trips.get(position))
                        );
                    }
                }
            }
        }
        md.push('\n');
    }

    fn listen_heap_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Live heap per open listen stream (2026-07-28)\n\n{} `subscriptions/listen` \
             streams for tool list changes, each on its own connection, acknowledged and held. \
             The figure is the growth of the live heap divided by the number of streams, after 16 \
             warm-up streams. Lower is better.\n",
            self.sizes.heap_sessions
        );
        let _ = writeln!(
            md,
            "| peer | per listen stream | vs rmcp |\n| --- | ---: | ---: |"
        );
        let reference = self
            .rmcp()
            .and_then(|r| ok(r.listen_heap.as_ref()))
            .map(|h| h.per_stream);
        for r in self.results.iter().filter(|r| r.peer.serves("listen-heap")) {
            match ok(r.listen_heap.as_ref()) {
                Some(h) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} |",
                        r.peer.name,
                        kib(h.per_stream),
                        ratio(Some(h.per_stream), reference)
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | |",
                        r.peer.name,
                        failure(r.listen_heap.as_ref())
                    );
                }
            }
        }
        md.push('\n');
    }

    fn churn_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Session churn\n\nOn {} keep-alive connections at once: `initialize`, \
             `notifications/initialized`, one `tools/call`, and no DELETE, again and again for \
             {:.1} s. Latency is per whole session. Higher is better for sessions/s.\n",
            self.sizes.churn_connections,
            self.sizes.measure.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| peer | sessions/s | vs rmcp | p50 | p99 |\n| --- | ---: | ---: | ---: | ---: |"
        );
        let reference = self
            .rmcp()
            .and_then(|r| ok(r.churn.as_ref()))
            .map(|c| c.sessions_per_second);
        for r in self.results.iter().filter(|r| r.peer.serves("churn")) {
            match ok(r.churn.as_ref()) {
                Some(c) => {
                    let _ = writeln!(
                        md,
                        "| {} | {:.0} | {} | {} | {} |",
                        r.peer.name,
                        c.sessions_per_second,
                        ratio(Some(c.sessions_per_second), reference),
                        micros(u64::from(c.p50_micros)),
                        micros(u64::from(c.p99_micros))
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | | | |",
                        r.peer.name,
                        failure(r.churn.as_ref())
                    );
                }
            }
        }
        md.push('\n');
    }

    fn heap_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Live heap per idle session\n\n{} sessions initialize and go quiet, their \
             connections closed; then each opens a GET stream on its own connection. The figure \
             is the growth of the live heap divided by the number of sessions, after 16 warm-up \
             sessions. Lower is better.\n",
            self.sizes.heap_sessions
        );
        let _ = writeln!(
            md,
            "| peer | per idle session | vs rmcp | with an open GET stream | vs rmcp |\n| --- | ---: | ---: | ---: | ---: |"
        );
        let reference = self.rmcp().and_then(|r| ok(r.heap.as_ref()));
        for r in self.results.iter().filter(|r| r.peer.serves("heap")) {
            match ok(r.heap.as_ref()) {
                Some(h) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} |",
                        r.peer.name,
                        kib(h.idle_session),
                        ratio(Some(h.idle_session), reference.map(|h| h.idle_session)),
                        kib(h.session_with_stream),
                        ratio(
                            Some(h.session_with_stream),
                            reference.map(|h| h.session_with_stream)
                        )
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | | | |",
                        r.peer.name,
                        failure(r.heap.as_ref())
                    );
                }
            }
        }
        let _ = writeln!(
            md,
            "\n![live heap per session](tests/bench/charts/memory.svg)\n"
        );
    }

    fn broadcast_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Broadcast\n\nEvery session initializes, calls `echo` once (the peers register \
             sessions for broadcasts there) and holds a GET stream on its own connection. A \
             separate session then calls `broadcast`, which sends one \
             `notifications/tools/list_changed` to every session. Times run from the call leaving \
             the client until the generator has read the notification from the socket; limit {} \
             s. Lower is better. The bare server is the floor: it keeps its GET sockets in a list \
             and writes one fixed chunk to each, back to back, with no MCP at all.\n",
            self.sizes.broadcast_limit.as_secs()
        );
        let _ = writeln!(
            md,
            "| peer | streams | delivered | call answered | half delivered | all delivered | vs rmcp |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for (i, &streams) in self.sizes.broadcast_streams.iter().enumerate() {
            let find = |r: &PeerResults| r.broadcasts.get(i).and_then(|o| o.as_ref().ok()).cloned();
            let reference = self
                .rmcp()
                .and_then(find)
                .filter(|b| b.delivered == b.streams)
                .map(|b| b.all_micros as f64);
            for r in self.results.iter().filter(|r| r.peer.serves("broadcast")) {
                delivery_row(md, r.peer.name, streams, r.broadcasts.get(i), reference);
            }
        }
        md.push('\n');
    }

    fn slow_reader_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### A slow reader among busy sessions\n\n{} sessions run closed loops of `echo` calls \
             ({:.1} s measured), first alone (after an unmeasured pass of the same), then beside one more client that pipelines `echo` \
             calls with a 64 KiB message and never reads an answer. *Slow calls taken* counts \
             the calls the server read from that client before its writes blocked (at most \
             2,000). Lower p99 is better.\n",
            self.sizes.busy_sessions,
            self.sizes.measure.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| peer | alone: round trips/s | p99 | beside the slow reader: round trips/s | p99 | p99 vs alone | slow calls taken |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for r in self.results.iter().filter(|r| r.peer.serves("slow-reader")) {
            match ok(r.slow_reader.as_ref()) {
                Some(s) => {
                    let _ = writeln!(
                        md,
                        "| {} | {:.0} | {} | {:.0} | {} | {} | {} |",
                        r.peer.name,
                        s.alone.per_second,
                        micros(u64::from(s.alone.p99_micros)),
                        s.beside_slow_reader.per_second,
                        micros(u64::from(s.beside_slow_reader.p99_micros)),
                        ratio(
                            Some(f64::from(s.beside_slow_reader.p99_micros)),
                            Some(f64::from(s.alone.p99_micros))
                        ),
                        s.slow_calls_sent
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | | | | | |",
                        r.peer.name,
                        failure(r.slow_reader.as_ref())
                    );
                }
            }
        }
        md.push('\n');
    }

    fn shutdown_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Shutdown with open streams\n\n{} sessions hold GET streams; then SIGTERM. A clean \
             end is the chunked terminator, which a client can tell from a failure; a cut stream \
             ends at the socket. A server still running {} s after the signal is killed.\n",
            self.sizes.shutdown_streams,
            self.sizes.shutdown_limit.as_secs()
        );
        let _ = writeln!(
            md,
            "| peer | time to exit | vs rmcp | clean ends | cut |\n| --- | ---: | ---: | ---: | ---: |"
        );
        let reference = self
            .rmcp()
            .and_then(|r| ok(r.shutdown.as_ref()))
            .and_then(|s| s.exit_micros)
            .map(|m| m as f64);
        for r in self.results.iter().filter(|r| r.peer.serves("shutdown")) {
            match ok(r.shutdown.as_ref()) {
                Some(s) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} |",
                        r.peer.name,
                        s.exit_micros
                            .map_or(format!("killed after {} s", s.limit.as_secs()), micros),
                        ratio(s.exit_micros.map(|m| m as f64), reference),
                        s.clean_ends,
                        s.cut
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | | | |",
                        r.peer.name,
                        failure(r.shutdown.as_ref())
                    );
                }
            }
        }
        md.push('\n');
    }

    fn bare(&self) -> Option<&PeerResults> {
        self.results.iter().find(|r| r.peer.name == "bare")
    }

    fn listen_broadcast_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Fan-out to listen streams (2026-07-28)\n\n`subscriptions/listen` streams for tool \
             list changes, each on its own connection; then one stateless call of `broadcast`, \
             which sends `notifications/tools/list_changed` to every stream that asked for it \
             (tagged with that stream's subscription): mcpwire through the engine's broadcast, rmcp \
             through the sinks its `listen` handler keeps, the TypeScript SDK v2 and the Python SDK \
             through their in-process event buses. Times as in the broadcast above; the floor is \
             the bare server's broadcast to as many GET sockets in the same run. Lower is better.\n"
        );
        let _ = writeln!(
            md,
            "| peer | streams | delivered | call answered | half delivered | all delivered | vs the bare floor |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for (i, &streams) in self.sizes.listen_streams.iter().enumerate() {
            let floor = self.bare().and_then(|r| {
                r.broadcasts
                    .iter()
                    .filter_map(|o| o.as_ref().ok())
                    .find(|b| b.streams == streams && b.delivered == b.streams)
                    .map(|b| b.all_micros as f64)
            });
            for r in self
                .results
                .iter()
                .filter(|r| r.peer.serves("listen-broadcast"))
            {
                delivery_row(md, r.peer.name, streams, r.listen_broadcasts.get(i), floor);
            }
        }
        md.push('\n');
    }

    fn busy_handler_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Pings beside a handler that never yields\n\nOne session's `ping` round trips, one \
             at a time: for {:.1} s with the server otherwise idle, then while another session's \
             `spin` tool computes for {} ms without yielding (a handler that forgot \
             `smol::unblock`). The server is pinned to one CPU, so the spinning thread and the \
             driver share it. Only mcpwire's peer has the `spin` tool.\n",
            self.sizes.measure.as_secs_f64(),
            self.sizes.spin.as_millis()
        );
        let _ = writeln!(
            md,
            "| peer | idle p50 | idle p99 | beside the spin: pings | p50 | p99 | p99 vs idle | spin answered after |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for r in self
            .results
            .iter()
            .filter(|r| r.peer.serves("busy-handler"))
        {
            match ok(r.busy_handler.as_ref()) {
                Some(b) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        r.peer.name,
                        micros(u64::from(b.idle_p50_micros)),
                        micros(u64::from(b.idle_p99_micros)),
                        b.busy_pings,
                        micros(u64::from(b.busy_p50_micros)),
                        micros(u64::from(b.busy_p99_micros)),
                        ratio(
                            Some(f64::from(b.busy_p99_micros)),
                            Some(f64::from(b.idle_p99_micros))
                        ),
                        micros(b.spin_micros)
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | | | | | | |",
                        r.peer.name,
                        failure(r.busy_handler.as_ref())
                    );
                }
            }
        }
        md.push('\n');
    }

    fn scale_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Cost as idle sessions grow\n\nThat many sessions initialize and go quiet (their \
             connections closed); then 8 more connections make closed-loop `echo` calls for \
             {:.1} s, and one more session calls `broadcast` 5 times, which reaches every session \
             (the idle ones in their backlog, since none has a stream). *CPU per call* is the \
             server's user and system time over the calls (from `/proc`, in 10 ms ticks); *per \
             recipient* is a broadcast's median time beyond an `echo` call's, divided by the \
             sessions it reached. Ratios are against the first row (for a broadcast, the first that \
             took longer than an `echo`): flat is 1.00x. Only mcpwire is \
             measured: 100,000 idle sessions of rmcp would hold about 9 GB. Measured in the first \
             run only.\n",
            self.sizes.measure.as_secs_f64()
        );
        let _ = writeln!(
            md,
            "| peer | idle sessions | live heap of them | per session | round trips/s | CPU per call | vs first row | broadcast per recipient | vs first row |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for r in self.results.iter().filter(|r| r.peer.serves("scale")) {
            let first = r.scale.first().and_then(|o| o.as_ref().ok()).cloned();
            // A broadcast to 100 sessions can be within the noise of an `echo` call: the
            // per-recipient figures compare with the first row that measured one.
            let first_broadcast = r
                .scale
                .iter()
                .filter_map(|o| o.as_ref().ok())
                .map(|x| x.broadcast_nanos_per_recipient)
                .find(|&ns| ns > 0.0);
            for (i, outcome) in r.scale.iter().enumerate() {
                match outcome {
                    Ok(x) => {
                        let _ = writeln!(
                            md,
                            "| {} | {} | {:.1} MiB | {} | {:.0} | {:.1} µs | {} | {:.0} ns | {} |",
                            r.peer.name,
                            x.idle,
                            x.heap_per_session * x.idle as f64 / (1024.0 * 1024.0),
                            kib(x.heap_per_session),
                            x.calls_per_second,
                            x.cpu_micros_per_call,
                            ratio(
                                Some(x.cpu_micros_per_call),
                                first.as_ref().map(|f| f.cpu_micros_per_call)
                            ),
                            x.broadcast_nanos_per_recipient,
                            ratio(Some(x.broadcast_nanos_per_recipient), first_broadcast),
                        );
                    }
                    Err(_) => {
                        let idle = self.sizes.scale_sessions.get(i).copied().unwrap_or(0);
                        let _ = writeln!(
                            md,
                            "| {} | {idle} | {} | | | | | | |",
                            r.peer.name,
                            failure(Some(outcome))
                        );
                    }
                }
            }
        }
        md.push('\n');
    }

    fn instructions_table(&self, md: &mut String) {
        let [few, many] = self.sizes.instruction_calls;
        let _ = writeln!(
            md,
            "### Instructions per `tools/call` (callgrind)\n\nEach server runs twice under \
             `valgrind --tool=callgrind` and serves {few}, then {many}, `echo` calls from 8 \
             keep-alive connections (one session each); the difference of the two totals over \
             the {} extra calls is what one call costs the server in user space, every thread \
             counted, without start-up or exit. The count does not move with the machine's \
             noise; system calls and the kernel's work are not in it. Native servers only. \
             Lower is better.\n",
            many - few
        );
        let _ = writeln!(
            md,
            "| peer | instructions per call | vs bare | vs rmcp |\n| --- | ---: | ---: | ---: |"
        );
        let per = |r: &PeerResults| ok(r.instructions.as_ref()).map(|i| i.per_call);
        let bare = self.bare().and_then(per);
        let rmcp = self.rmcp().and_then(per);
        for r in self
            .results
            .iter()
            .filter(|r| r.peer.serves("instructions"))
        {
            match per(r) {
                Some(count) => {
                    let _ = writeln!(
                        md,
                        "| {} | {:.0} | {} | {} |",
                        r.peer.name,
                        count,
                        ratio(Some(count), bare),
                        ratio(Some(count), rmcp)
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | | |",
                        r.peer.name,
                        match r.instructions.as_ref() {
                            None => "not measured (valgrind is not installed)".into(),
                            outcome => failure(outcome),
                        }
                    );
                }
            }
        }
        md.push('\n');
    }

    fn charts(&self) -> [(&'static str, String); 2] {
        let groups: Vec<String> = self
            .sizes
            .connections
            .iter()
            .map(|c| format!("{c} connection{}", if *c == 1 { "" } else { "s" }))
            .collect();
        let throughput: Vec<Series> = self
            .results
            .iter()
            .filter(|r| r.peer.serves("round-trips"))
            .map(|r| Series {
                name: r.peer.name.to_string(),
                color: color(r.peer.name),
                values: self
                    .sizes
                    .connections
                    .iter()
                    .map(|&c| Self::round_trip(r, c).map(|x| x.per_second))
                    .collect(),
            })
            .collect();
        let memory: Vec<Series> = self
            .results
            .iter()
            .filter(|r| r.peer.serves("heap"))
            .map(|r| {
                let heap = ok(r.heap.as_ref());
                Series {
                    name: r.peer.name.to_string(),
                    color: color(r.peer.name),
                    values: vec![
                        heap.map(|h| h.idle_session / 1024.0),
                        heap.map(|h| h.session_with_stream / 1024.0),
                    ],
                }
            })
            .collect();
        [
            (
                "throughput.svg",
                grouped_bars(
                    "tools/call round trips per second",
                    &format!(
                        "{}, one server core, keep-alive; higher is better",
                        self.machine.date
                    ),
                    &groups,
                    &throughput,
                ),
            ),
            (
                "memory.svg",
                grouped_bars(
                    "Live heap per idle session (KiB)",
                    &format!(
                        "{}, {} sessions; lower is better",
                        self.machine.date, self.sizes.heap_sessions
                    ),
                    &["connection closed".into(), "with an open GET stream".into()],
                    &memory,
                ),
            ),
        ]
    }

    /// Replaces the section between the markers in BENCHMARKS.md (appending it the first
    /// time) and writes the charts.
    pub fn write(&self, repository: &Path) -> std::io::Result<()> {
        let charts = repository.join(CHARTS);
        std::fs::create_dir_all(&charts)?;
        for (name, svg) in self.charts() {
            std::fs::write(charts.join(name), svg)?;
        }
        let path = repository.join("BENCHMARKS.md");
        let existing = std::fs::read_to_string(&path)?;
        let section = self.markdown();
        let updated = match (existing.find(START), existing.find(END)) {
            (Some(start), Some(end)) if start < end => {
                format!(
                    "{}{}{}",
                    &existing[..start],
                    section.trim_end(),
                    &existing[end + END.len()..]
                )
            }
            _ => format!(
                "{}\n{}",
                existing.trim_end_matches('\n').to_string() + "\n",
                section
            ),
        };
        std::fs::write(path, updated)
    }
}
