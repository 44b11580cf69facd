//! A Redis pub/sub [`Bus`] for [`mcpwire-smol`](mcpwire_smol): several `mcpwire` servers
//! (nodes) behind one load balancer share their broadcasts and resource updates.
//!
//! # How it runs
//!
//! [`Server::bus`](mcpwire_smol::Server::bus) runs the bus as one task of the server, on its
//! I/O thread, from `serve` until the server stops, when the task is dropped with everything
//! it holds. The task keeps two connections to Redis: a subscriber (`SUBSCRIBE` to the
//! channel, `mcpwire` by default) and a publisher (`PUBLISH`). A broadcast or resource update
//! asked of a node is delivered by that node at once and published once; every node receives
//! it, and each one but its origin delivers it to its own sessions and listen streams.
//!
//! A lost connection is made again after a backoff (100 ms doubling to
//! [`RedisBus::max_backoff`], with full jitter), one attempt at a time, each within
//! [`RedisBus::connect_timeout`]. While Redis is away local delivery goes on, publications
//! wait in the server's bounded queue (see [`mcpwire_smol::bus`]), and `/metrics` says so:
//! `mcpwire_bus_connected 0`, `mcpwire_bus_reconnects_total`, `mcpwire_bus_dropped_total`.
//! The subscriber pings every [`RedisBus::heartbeat`]; a connection silent for two of them is
//! taken for dead, so a Redis that vanished without closing its sockets is noticed too.
//!
//! Anyone who may `PUBLISH` on the channel reaches every node, so what arrives is checked as
//! a client's bytes are: a message longer than a frame may be (the largest publication and
//! 64 KiB) is skipped as it arrives, and one that is not a notice a node would publish is not
//! delivered; both are counted in `mcpwire_bus_refused_total`, and the subscription goes on.
//!
//! Delivery is Redis pub/sub's: at most once. What is published while a node's subscriber is
//! away does not reach that node; clients of the 2025 era resume their streams, and a
//! `list_changed` is a hint to list again, so a lost one costs a stale list until the next.
//!
//! # Examples
//!
//! ```no_run
//! use mcpwire_redis::RedisBus;
//! use mcpwire_smol::{App, Server};
//!
//! let bus = RedisBus::new("redis://127.0.0.1:6379")?;
//! let server = Server::new(App::builder("node", "1.0.0").build())
//!     .configure(|config| config.session_id_prefix = "a-".into())
//!     .bus(bus)
//!     .metrics(true);
//! smol::block_on(async {
//!     let listener = smol::net::TcpListener::bind("127.0.0.1:3001").await?;
//!     server.serve(listener).await
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod connection;
mod resp;
mod run;
mod target;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use mcpwire_smol::bus::{Bus, BusPort};

use target::Target;
pub use target::UrlError;

/// A bus over Redis pub/sub. See the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct RedisBus {
    target: Target,
    channel: String,
    connect_timeout: Duration,
    max_backoff: Duration,
    heartbeat: Duration,
}

impl RedisBus {
    /// A bus through the Redis server at `url`
    /// (`redis://[[user]:password@]host[:port][/db]`), on the channel `mcpwire`.
    ///
    /// # Errors
    ///
    /// When `url` is not such a URL (`rediss://` is not supported).
    pub fn new(url: &str) -> Result<RedisBus, UrlError> {
        Ok(RedisBus {
            target: Target::parse(url)?,
            channel: "mcpwire".into(),
            connect_timeout: Duration::from_secs(5),
            max_backoff: Duration::from_secs(5),
            heartbeat: Duration::from_secs(15),
        })
    }

    /// The pub/sub channel (`mcpwire` by default): nodes on one channel form one cluster.
    #[must_use]
    pub fn channel(mut self, channel: &str) -> RedisBus {
        self.channel = channel.into();
        self
    }

    /// How long one attempt to connect (and authenticate, and subscribe) may take, and one
    /// publication's round trip (5 s by default).
    #[must_use]
    pub fn connect_timeout(mut self, limit: Duration) -> RedisBus {
        self.connect_timeout = limit.max(Duration::from_millis(1));
        self
    }

    /// The longest wait between two attempts to reconnect (5 s by default).
    #[must_use]
    pub fn max_backoff(mut self, limit: Duration) -> RedisBus {
        self.max_backoff = limit.max(Duration::from_millis(100));
        self
    }

    /// How often the subscriber pings Redis (15 s by default); two silent ones end the
    /// connection.
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> RedisBus {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }
}

impl Bus for RedisBus {
    fn run(self: Box<Self>, port: BusPort) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(run::run(*self, port))
    }
}

/// What the fuzz targets (`tests/fuzz`) drive: not part of the API, and may change at any time.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::resp::{FrameReader, Received};
}

/// The crate README's example, compiled as a doc test so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
