//! Several runs of every scenario, peers taking turns, reduced to one figure each: the run
//! with the median of the scenario's main figure. A slow patch of a shared machine then falls
//! on every peer alike instead of on whoever ran at the time.

use crate::{Outcome, PeerResults};

/// The outcome whose `key` is the median of the successful ones (the lower one of an even
/// count); the first failure if none succeeded.
fn median_by<T: Clone>(outcomes: &[&Outcome<T>], key: impl Fn(&T) -> f64) -> Outcome<T> {
    let mut ok: Vec<&T> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    if ok.is_empty() {
        return outcomes
            .first()
            .map_or_else(|| Err("not run".into()), |o| (*o).clone());
    }
    ok.sort_by(|a, b| key(a).total_cmp(&key(b)));
    Ok(ok[(ok.len() - 1) / 2].clone())
}

fn each<T: Clone>(
    runs: &[PeerResults],
    pick: impl Fn(&PeerResults) -> &Vec<Outcome<T>>,
    key: impl Fn(&T) -> f64 + Copy,
) -> Vec<Outcome<T>> {
    (0..pick(&runs[0]).len())
        .map(|i| {
            let outcomes: Vec<&Outcome<T>> = runs.iter().filter_map(|r| pick(r).get(i)).collect();
            median_by(&outcomes, key)
        })
        .collect()
}

fn one<T: Clone>(
    runs: &[PeerResults],
    pick: impl Fn(&PeerResults) -> &Option<Outcome<T>>,
    key: impl Fn(&T) -> f64,
) -> Option<Outcome<T>> {
    let outcomes: Vec<&Outcome<T>> = runs.iter().filter_map(|r| pick(r).as_ref()).collect();
    (!outcomes.is_empty()).then(|| median_by(&outcomes, key))
}

/// A fan-out's time to deliver to every stream; an incomplete delivery counts as the slowest.
fn delivery_time(b: &crate::scenario::broadcast::Broadcast) -> f64 {
    if b.delivered == b.streams {
        b.all_micros as f64
    } else {
        f64::INFINITY
    }
}

/// One peer's runs as one result.
pub fn combine(runs: &[PeerResults]) -> PeerResults {
    PeerResults {
        peer: runs[0].peer.clone(),
        round_trips: each(runs, |r| &r.round_trips, |x| x.per_second),
        stateless_round_trips: each(runs, |r| &r.stateless_round_trips, |x| x.per_second),
        listen_heap: one(runs, |r| &r.listen_heap, |h| h.per_stream),
        churn: one(runs, |r| &r.churn, |c| c.sessions_per_second),
        heap: one(runs, |r| &r.heap, |h| h.session_with_stream),
        broadcasts: each(runs, |r| &r.broadcasts, delivery_time),
        slow_reader: one(
            runs,
            |r| &r.slow_reader,
            |s| f64::from(s.beside_slow_reader.p99_micros) / f64::from(s.alone.p99_micros.max(1)),
        ),
        shutdown: one(
            runs,
            |r| &r.shutdown,
            |s| s.exit_micros.map_or(f64::INFINITY, |m| m as f64),
        ),
        listen_broadcasts: each(runs, |r| &r.listen_broadcasts, delivery_time),
        busy_handler: one(runs, |r| &r.busy_handler, |b| f64::from(b.busy_p99_micros)),
        // Measured in the first run only.
        scale: runs[0].scale.clone(),
        instructions: runs[0].instructions.clone(),
    }
}
