//! Open-file descriptors: the soft limit raised to the hard one at start, and the connection cap
//! sized to what fits. Under the usual soft limit of 1024 the server would otherwise never reach
//! its own cap, and new clients would wait silently in the listen backlog while `accept` fails.

/// Descriptors kept for everything but client connections: the listener, the poller and its
/// notifier, the signal pipe, standard streams, and some slack for what the process opens.
const RESERVED: u64 = 64;

/// The descriptor limit after trying to raise it: `(soft limit before, soft limit now)`, or
/// `None` where the platform has none to read.
pub fn raise_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let before = limit.current.unwrap_or(u64::MAX);
        if limit.current != limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if let Err(error) = setrlimit(Resource::Nofile, raised) {
                tracing::warn!(%error, "could not raise the descriptor limit");
            }
        }
        let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        Some((before, now))
    }
    #[cfg(not(unix))]
    None
}

/// The most connections that fit `descriptors`: the engine keeps up to twice its cap open
/// (those past it are answered 503 before they close), each a descriptor.
pub fn connections_that_fit(descriptors: u64) -> usize {
    let spare = descriptors.saturating_sub(RESERVED) / 2;
    usize::try_from(spare).unwrap_or(usize::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_503_band_and_the_servers_own_descriptors() {
        assert_eq!(connections_that_fit(1024), 480);
        assert_eq!(connections_that_fit(20_000), 9_968);
        assert_eq!(connections_that_fit(10), 1);
        assert_eq!(
            connections_that_fit(u64::MAX),
            usize::try_from((u64::MAX - 64) / 2).unwrap_or(usize::MAX)
        );
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        if let Some((before, now)) = raise_limit() {
            assert!(now >= before);
        }
    }
}
