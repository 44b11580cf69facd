//! The key cache of a [`JwtVerifier`](super::JwtVerifier): the authorization server's signing
//! keys, fetched by one task that the verifier owns.
//!
//! - **One fetcher.** Verifications never fetch: one that meets a `kid` the cache does not know
//!   asks the task and waits for its next attempt, with every other verification waiting for
//!   that same attempt. The task also fetches at start, refreshes the set every
//!   `refresh_interval`, and retries a failed attempt after a backoff (1 s, doubling, up to the
//!   refetch interval).
//! - **Bounded under a flood.** An unknown `kid` asks for a fetch only when the last attempt
//!   ended at least `refetch_interval` ago (its backoff, after a failure): 10,000 tokens with
//!   random `kid`s cost one fetch per interval, not 10,000. Between attempts, a `kid` the last
//!   good set did not have is refused; while the server cannot be reached, it is unavailable.
//! - **Cached keys keep serving.** A failed attempt keeps the last good set; a new `kid` (a
//!   rotated key) is picked up by the fetch its first token asks for.
//! - **Owned.** Dropping the cache (the verifier, with its server) cancels the task, whatever
//!   it is doing; [`JwksStats::tasks`] shows it gone.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::discovery;
use super::fetch::Fetcher;
use super::keys::{KeySet, Lookup};
use super::url::HttpUrl;

/// The largest key set read.
pub(crate) const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The first retry after a failed attempt; each further failure doubles it.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What the key cache has done, for tests, metrics and logs.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mcpwire_smol::auth::JwtVerifier;
///
/// let verifier = JwtVerifier::builder("https://auth.example.com", "https://mcp.example.com/mcp")
///     .build()?;
/// let stats = verifier.stats();
/// println!("{} key set fetches, {} failed, {} keys", stats.fetches, stats.failures, stats.keys);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct JwksStats {
    /// Key set documents requested (discovery not counted).
    pub fetches: u64,
    /// Attempts that ended without a usable key set (discovery or key set failed).
    pub failures: u64,
    /// Metadata documents requested while discovering the key set's URL.
    pub discoveries: u64,
    /// Usable keys held now.
    pub keys: usize,
    /// Live cache tasks: 1 while the verifier lives, 0 once it is dropped.
    pub tasks: usize,
}

/// Where the keys come from, and how often they may be fetched.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) fetcher: Fetcher,
    pub(crate) issuer: HttpUrl,
    /// Configured, or else discovered from the issuer's metadata.
    pub(crate) jwks_uri: Option<HttpUrl>,
    pub(crate) refetch_interval: Duration,
    pub(crate) refresh_interval: Duration,
}

/// The cache: shared state, and the task that fills it.
pub(crate) struct KeyCache {
    shared: Arc<Shared>,
    wake: async_channel::Sender<()>,
    _task: smol::Task<()>,
}

#[derive(Default)]
pub(crate) struct Counters {
    fetches: AtomicU64,
    failures: AtomicU64,
    discoveries: AtomicU64,
    tasks: AtomicUsize,
}

struct Shared {
    state: Mutex<State>,
    /// Notified when an attempt ends.
    attempt_ended: event_listener::Event,
    counters: Arc<Counters>,
    refetch_interval: Duration,
}

#[derive(Default)]
struct State {
    keys: KeySet,
    /// An attempt is under way, or asked for.
    fetching: bool,
    /// When the last attempt ended, and whether it failed.
    last: Option<(Instant, bool)>,
    /// Failed attempts since the last good one.
    failures: u32,
}

/// Why a token's key is not to be had.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// The key set, fetched and good, has no such key (or the token cannot name one).
    Refused(&'static str),
    /// The key set cannot be fetched now.
    Unavailable,
}

impl State {
    /// When the next attempt may be asked for by an unknown `kid`.
    fn may_fetch_at(&self, refetch: Duration) -> Option<Instant> {
        let (ended, failed) = self.last?;
        Some(
            ended
                + if failed {
                    backoff(self.failures, refetch)
                } else {
                    refetch
                },
        )
    }

    fn missing(&self) -> Missing {
        match self.last {
            Some((_, false)) => Missing::Refused("unknown signing key"),
            _ => Missing::Unavailable,
        }
    }
}

/// The wait before retrying after `failures` failed attempts.
fn backoff(failures: u32, cap: Duration) -> Duration {
    let doubling = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(20));
    doubling.min(cap.max(FIRST_BACKOFF))
}

impl KeyCache {
    /// Starts the task, which fetches at once (on smol's global executor: the cache has no
    /// other to reach, and owns the task all the same).
    pub(crate) fn start(source: Source) -> KeyCache {
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                fetching: true,
                ..State::default()
            }),
            attempt_ended: event_listener::Event::new(),
            counters: counters.clone(),
            refetch_interval: source.refetch_interval,
        });
        let (wake, woken) = async_channel::bounded(1);
        counters.tasks.fetch_add(1, Ordering::Relaxed);
        let live = Live(counters);
        let task = smol::spawn(run(shared.clone(), woken, source, live));
        KeyCache {
            shared,
            wake,
            _task: task,
        }
    }

    /// The key for a token with `kid`, signed with `alg`: from the cache, or after the fetch
    /// an unknown `kid` may ask for.
    pub(crate) async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, Missing> {
        let mut waited = false;
        loop {
            let listener = {
                let mut state = self.shared.lock();
                match state.keys.lookup(kid, alg) {
                    Lookup::Found(key) => return Ok(key.clone()),
                    Lookup::Refused(why) => return Err(Missing::Refused(why)),
                    Lookup::Unknown => {}
                }
                if waited {
                    return Err(state.missing());
                }
                if !state.fetching {
                    let allowed = state
                        .may_fetch_at(self.shared.refetch_interval)
                        .is_none_or(|at| Instant::now() >= at);
                    if !allowed {
                        return Err(state.missing());
                    }
                    state.fetching = true;
                    // Full means a wake is already queued: that attempt serves this one too.
                    let _ = self.wake.try_send(());
                }
                // Listening before the lock is released: the attempt's end, which takes the
                // lock to publish, cannot slip between the check and the wait.
                self.shared.attempt_ended.listen()
            };
            listener.await;
            waited = true;
        }
    }

    pub(crate) fn stats(&self) -> JwksStats {
        let keys = self.shared.lock().keys.len();
        stats(&self.shared.counters, keys)
    }

    /// Makes the last attempt an hour old: the refetch interval, and any backoff, passed.
    #[cfg(test)]
    pub(crate) fn age_last_attempt(&self) {
        let mut state = self.shared.lock();
        if let Some((ended, _)) = &mut state.last {
            *ended = ended
                .checked_sub(Duration::from_secs(3600))
                .unwrap_or(*ended);
        }
    }

    /// The counters, which outlive the cache (for proving its task gone).
    #[cfg(test)]
    pub(crate) fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }
}

pub(crate) fn stats(counters: &Counters, keys: usize) -> JwksStats {
    JwksStats {
        fetches: counters.fetches.load(Ordering::Relaxed),
        failures: counters.failures.load(Ordering::Relaxed),
        discoveries: counters.discoveries.load(Ordering::Relaxed),
        keys,
        tasks: counters.tasks.load(Ordering::Relaxed),
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding it leaves a state that is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Held by the task's future: uncounts it when dropped, at its end or its cancellation.
struct Live(Arc<Counters>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The task: an attempt, then a wait for a wake or the next refresh or retry, until the cache
/// is dropped (which cancels it, or closes `woken`).
async fn run(shared: Arc<Shared>, woken: async_channel::Receiver<()>, source: Source, _live: Live) {
    let mut discovered: Option<HttpUrl> = None;
    loop {
        shared.lock().fetching = true;
        let outcome = attempt(&source, &shared.counters, &mut discovered).await;
        let failed = outcome.is_err();
        let next = {
            let mut state = shared.lock();
            match outcome {
                Ok(keys) => {
                    tracing::debug!(keys = keys.len(), issuer = %source.issuer, "fetched the signing keys");
                    state.keys = keys;
                    state.failures = 0;
                }
                Err(why) => {
                    state.failures = state.failures.saturating_add(1);
                    tracing::warn!(
                        issuer = %source.issuer,
                        failures = state.failures,
                        cached_keys = state.keys.len(),
                        "cannot fetch the signing keys: {why}"
                    );
                    shared.counters.failures.fetch_add(1, Ordering::Relaxed);
                    // The key set's URL may have moved: discover it again next time.
                    discovered = None;
                }
            }
            state.last = Some((Instant::now(), failed));
            state.fetching = false;
            // This attempt answers every wake queued before it ended.
            while woken.try_recv().is_ok() {}
            if failed {
                backoff(state.failures, source.refetch_interval)
            } else {
                source.refresh_interval
            }
        };
        shared.attempt_ended.notify(usize::MAX);
        let woke = async { woken.recv().await.is_ok() }
            .or(async {
                async_io::Timer::after(next).await;
                true
            })
            .await;
        if !woke {
            return;
        }
    }
}

/// One attempt: discovery if needed, then the key set.
async fn attempt(
    source: &Source,
    counters: &Counters,
    discovered: &mut Option<HttpUrl>,
) -> Result<KeySet, String> {
    let jwks_uri = match (&source.jwks_uri, &*discovered) {
        (Some(configured), _) => configured.clone(),
        (None, Some(found)) => found.clone(),
        (None, None) => {
            counters.discoveries.fetch_add(1, Ordering::Relaxed);
            let metadata = discovery::discover(&source.fetcher, &source.issuer).await?;
            let Some(uri) = metadata.jwks_uri else {
                return Err("the issuer's metadata has no jwks_uri".into());
            };
            let uri = HttpUrl::parse(&uri, "the issuer's jwks_uri").map_err(|e| e.to_string())?;
            *discovered = Some(uri.clone());
            uri
        }
    };
    counters.fetches.fetch_add(1, Ordering::Relaxed);
    let document = source
        .fetcher
        .get(&jwks_uri, MAX_JWKS_BYTES)
        .await
        .map_err(|e| format!("{jwks_uri}: {e}"))?;
    if document.status != 200 {
        return Err(format!("{jwks_uri}: status {}", document.status));
    }
    KeySet::parse(&document.body).map_err(|e| format!("{jwks_uri}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_refetch_interval() {
        let cap = Duration::from_secs(60);
        let waits: Vec<u64> = (1..=8).map(|f| backoff(f, cap).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(u32::MAX, cap), cap);
        assert_eq!(backoff(3, Duration::ZERO), FIRST_BACKOFF);
    }
}
