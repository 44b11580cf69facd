//! [`Bus`]: how several servers (nodes) behind one load balancer share their broadcasts and
//! resource updates.
//!
//! A broadcast or resource update asked of a node's [`ServerHandle`](crate::ServerHandle) is
//! delivered by that node at once, and published once to the bus. Every other node receives
//! it from the bus as an input of its engine, which fans it out to its own sessions and listen
//! streams with the same encode-once path. A node's own publication, coming back from the bus,
//! is recognised by its origin and ignored: no session sees a notification twice.
//!
//! Delivery between nodes is at most once, as the bus gives it (Redis pub/sub loses what is
//! published while a subscriber is away). The queue of publications waiting for the bus is
//! bounded ([`PUBLICATION_QUEUE`] messages, [`PUBLICATION_BYTES`] bytes); a publication that
//! finds it full is dropped and counted, never waited for: local delivery goes on whatever
//! the bus does.
//!
//! A bus implementation (such as `mcpwire-redis`) is one future, run as a task of the server
//! from `serve` until the server stops, and dropped then: it owns its connections and
//! reconnect attempts, and reports them through [`BusPort`].
//!
//! # Examples
//!
//! A bus that drops every publication (a real one carries them to the other nodes):
//!
//! ```
//! use std::future::Future;
//! use std::pin::Pin;
//! use mcpwire_smol::bus::{Bus, BusPort};
//!
//! struct Nowhere;
//!
//! impl Bus for Nowhere {
//!     fn run(self: Box<Self>, port: BusPort) -> Pin<Box<dyn Future<Output = ()> + Send>> {
//!         Box::pin(async move {
//!             port.set_connected(true);
//!             while let Some(publication) = port.next_publication().await {
//!                 let _bytes = publication.wire();
//!                 port.count_published();
//!             }
//!         })
//!     }
//! }
//!
//! let server = mcpwire_smol::Server::new(mcpwire_smol::App::builder("n", "1").build())
//!     .bus(Nowhere);
//! # let _ = server;
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::input::Input;

/// How many publications may wait for the bus.
pub const PUBLICATION_QUEUE: usize = 1024;

/// How many bytes of publications may wait for the bus.
pub const PUBLICATION_BYTES: u64 = 1 << 20;

/// The largest publication a node sends or accepts, in bytes of its wire form.
pub const MAX_PUBLICATION: usize = 256 * 1024;

/// The deepest nesting of a broadcast's params a node sends or accepts, the params object
/// itself counted: the notification that carries them to a client adds one level to
/// [`MAX_NESTING`](mcpwire_core::jsonrpc::MAX_NESTING), the deepest message `serde_json`
/// (what a client in Rust parses it with) reads.
pub const MAX_PARAMS_DEPTH: usize = mcpwire_core::jsonrpc::MAX_NESTING - 1;

/// A carrier of publications between nodes.
pub trait Bus: Send + 'static {
    /// Runs the bus for one server: takes [`BusPort::next_publication`] and publishes each,
    /// and hands what it receives to [`BusPort::deliver`]. The future runs on the server's
    /// I/O thread from `serve` until the server stops, when it is dropped; it must not block.
    fn run(self: Box<Self>, port: BusPort) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// What one node tells the others.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A notification for every session and listen stream (`notifications/*/list_changed`,
    /// or any other broadcast).
    Broadcast {
        /// The notification's method.
        method: String,
        /// Its params, as JSON.
        params: Option<Box<RawValue>>,
    },
    /// `notifications/resources/updated` for the subscribers of `uri`.
    ResourceUpdated {
        /// The resource.
        uri: String,
    },
}

impl PartialEq for Notice {
    /// Equal notices have the same method and params text, or the same URI.
    fn eq(&self, other: &Notice) -> bool {
        match (self, other) {
            (
                Notice::Broadcast { method, params },
                Notice::Broadcast {
                    method: m,
                    params: p,
                },
            ) => {
                method == m
                    && params.as_deref().map(RawValue::get) == p.as_deref().map(RawValue::get)
            }
            (Notice::ResourceUpdated { uri }, Notice::ResourceUpdated { uri: u }) => uri == u,
            _ => false,
        }
    }
}

impl Eq for Notice {}

/// One notice on the wire, with the node it came from. Strings are borrowed when they can be
/// and owned when JSON escaped them (a `\\` in a Windows path, a `\"`).
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    /// The publishing node's id: how a node knows its own publications.
    #[serde(borrow)]
    origin: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    params: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    uri: Option<Cow<'a, str>>,
}

/// A notice to publish, in its wire form (JSON naming its origin).
#[derive(Clone, PartialEq, Eq)]
pub struct Publication {
    wire: Vec<u8>,
}

impl fmt::Debug for Publication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publication")
            .field("wire", &String::from_utf8_lossy(&self.wire))
            .finish()
    }
}

/// Whether a node may publish `notice`, and another deliver it: a broadcast is a
/// notification (`notifications/*`) whose params, if any, are an object, as MCP requires,
/// nested at most [`MAX_PARAMS_DEPTH`] deep, so that every client can parse it. Checked on
/// both sides: a publication reaches every stream of every other node, and a node that is
/// not one of ours may publish on the same channel.
fn acceptable(notice: &Notice) -> bool {
    match notice {
        Notice::Broadcast { method, params } => {
            method.starts_with("notifications/")
                && params.as_deref().is_none_or(|params| {
                    let json = params.get().trim_start();
                    json.starts_with('{')
                        && mcpwire_core::jsonrpc::nesting_within(json.as_bytes(), MAX_PARAMS_DEPTH)
                })
        }
        Notice::ResourceUpdated { .. } => true,
    }
}

impl Publication {
    /// `notice` from `origin` in its wire form; `None` when it is not [`acceptable`] or over
    /// [`MAX_PUBLICATION`]: the other nodes would refuse it.
    fn new(origin: &str, notice: &Notice) -> Option<Publication> {
        if !acceptable(notice) {
            return None;
        }
        let wire = match notice {
            Notice::Broadcast { method, params } => Wire {
                origin: Cow::Borrowed(origin),
                method: Some(Cow::Borrowed(method)),
                params: params.as_deref(),
                uri: None,
            },
            Notice::ResourceUpdated { uri } => Wire {
                origin: Cow::Borrowed(origin),
                method: None,
                params: None,
                uri: Some(Cow::Borrowed(uri)),
            },
        };
        let wire = serde_json::to_vec(&wire).ok()?;
        (wire.len() <= MAX_PUBLICATION).then_some(Publication { wire })
    }

    /// The bytes to publish.
    #[must_use]
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }
}

/// Why a received message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This node's own publication, already delivered here.
    Own,
    /// Not a notice (not JSON of the form nodes publish, larger than [`MAX_PUBLICATION`], or
    /// a broadcast whose params are not an object or nest deeper than [`MAX_PARAMS_DEPTH`]).
    Malformed,
    /// The server has stopped.
    Stopped,
}

/// Parses a received wire message: its origin and notice.
fn parse(bytes: &[u8]) -> Option<(String, Notice)> {
    if bytes.len() > MAX_PUBLICATION {
        return None;
    }
    let wire: Wire<'_> = serde_json::from_slice(bytes).ok()?;
    let notice = match (wire.method, wire.uri) {
        (Some(method), None) if method.starts_with("notifications/") => Notice::Broadcast {
            method: method.into_owned(),
            params: wire.params.map(|p| p.to_owned()),
        },
        (None, Some(uri)) => Notice::ResourceUpdated {
            uri: uri.into_owned(),
        },
        _ => return None,
    };
    acceptable(&notice).then(|| (wire.origin.into_owned(), notice))
}

/// What the fuzz targets (`tests/fuzz`) drive: not part of the API, and may change at any time.
#[doc(hidden)]
pub mod fuzzing {
    use super::{Notice, Publication};

    /// A received wire message's origin and notice, or `None` when a node refuses it.
    #[must_use]
    pub fn parse(wire: &[u8]) -> Option<(String, Notice)> {
        super::parse(wire)
    }

    /// `notice` from `origin` as a node would publish it, or `None` when it would not.
    #[must_use]
    pub fn publication(origin: &str, notice: &Notice) -> Option<Publication> {
        Publication::new(origin, notice)
    }
}

/// What a bus reports, shared with the server's stats.
#[derive(Debug, Default)]
pub(crate) struct BusCounters {
    connected: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
    reconnects: AtomicU64,
    queued_bytes: AtomicU64,
}

/// What the bus has done, in [`ServerStats::bus`](crate::ServerStats::bus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BusStats {
    /// Whether the bus is connected (publishing and receiving).
    pub connected: bool,
    /// Publications the bus has sent.
    pub published: u64,
    /// Notices received from other nodes and delivered here.
    pub received: u64,
    /// Publications dropped: the queue was full, or the bus could not send them.
    pub dropped: u64,
    /// Received messages not delivered: malformed ones, and those too large for the bus to
    /// read. (A node's own are not counted.)
    pub refused: u64,
    /// Connections the bus has made again after losing one.
    pub reconnects: u64,
    /// Publications waiting for the bus.
    pub queued: u64,
    /// Their bytes.
    pub queued_bytes: u64,
}

/// The server's end of its bus: where publications are queued, and the counters.
pub(crate) struct BusLink {
    node: Arc<str>,
    publications: async_channel::Sender<Publication>,
    counters: Arc<BusCounters>,
}

impl BusLink {
    /// Queues `notice` for the other nodes; drops (and counts) it when the queue is full.
    pub(crate) fn publish(&self, notice: &Notice) {
        let Some(publication) = Publication::new(&self.node, notice) else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let len = publication.wire.len() as u64;
        let queued = self.counters.queued_bytes.load(Ordering::Relaxed);
        if queued + len > PUBLICATION_BYTES {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counters.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if self.publications.try_send(publication).is_err() {
            self.counters.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn stats(&self) -> BusStats {
        let c = &self.counters;
        BusStats {
            connected: c.connected.load(Ordering::Relaxed),
            published: c.published.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            queued: self.publications.len() as u64,
            queued_bytes: c.queued_bytes.load(Ordering::Relaxed),
        }
    }
}

/// The bus's end: what it publishes, where it delivers, what it reports.
pub struct BusPort {
    node: Arc<str>,
    publications: async_channel::Receiver<Publication>,
    input: async_channel::Sender<Input>,
    counters: Arc<BusCounters>,
}

impl fmt::Debug for BusPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusPort")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// A linked pair for a server whose node id is `node`.
pub(crate) fn link(node: &str, input: async_channel::Sender<Input>) -> (BusLink, BusPort) {
    let node: Arc<str> = node.into();
    let (publications, queued) = async_channel::bounded(PUBLICATION_QUEUE);
    let counters = Arc::new(BusCounters::default());
    (
        BusLink {
            node: node.clone(),
            publications,
            counters: counters.clone(),
        },
        BusPort {
            node,
            publications: queued,
            input,
            counters,
        },
    )
}

impl BusPort {
    /// This node's id (random, fixed for the server's life): the origin of its publications.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The next publication to send; `None` once the server has stopped.
    pub async fn next_publication(&self) -> Option<Publication> {
        let publication = self.publications.recv().await.ok()?;
        self.counters
            .queued_bytes
            .fetch_sub(publication.wire.len() as u64, Ordering::Relaxed);
        Some(publication)
    }

    /// Hands a received message to the server, which delivers it to its sessions and listen
    /// streams; waits while the server's input queue is full. Its own publications and
    /// malformed messages are refused.
    pub async fn deliver(&self, wire: &[u8]) -> Result<(), Refusal> {
        let Some((origin, notice)) = parse(wire) else {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Malformed);
        };
        if *origin == *self.node {
            return Err(Refusal::Own);
        }
        self.input
            .send(Input::Remote(notice))
            .await
            .map_err(|_| Refusal::Stopped)?;
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Says whether the bus is connected now (`mcpwire_bus_connected`).
    pub fn set_connected(&self, connected: bool) {
        self.counters.connected.store(connected, Ordering::Relaxed);
    }

    /// Counts a publication sent.
    pub fn count_published(&self) {
        self.counters.published.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a publication the bus could not send.
    pub fn count_dropped(&self) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a received message refused before [`deliver`](Self::deliver) could see it (one
    /// too large for the bus to read whole, skipped).
    pub fn count_refused(&self) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection made again after one was lost.
    pub fn count_reconnect(&self) {
        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> Notice {
        Notice::Broadcast {
            method: "notifications/tools/list_changed".into(),
            params: None,
        }
    }

    #[test]
    fn a_publication_round_trips_and_names_its_origin() {
        let updated = Notice::ResourceUpdated {
            uri: "file:///a".into(),
        };
        let params = Notice::Broadcast {
            method: "notifications/message".into(),
            params: Some(RawValue::from_string(r#"{"level":"info","data":1}"#.into()).unwrap()),
        };
        for notice in [notice(), updated, params] {
            let publication = Publication::new("node-1", &notice).unwrap();
            let (origin, back) = parse(publication.wire()).unwrap();
            assert_eq!((origin.as_str(), back), ("node-1", notice));
        }
    }

    #[test]
    fn escaped_characters_round_trip() {
        for notice in [
            Notice::ResourceUpdated {
                uri: r"file:///C:\reports\q3.txt".into(),
            },
            Notice::ResourceUpdated {
                uri: r#"db://table/"quoted""#.into(),
            },
            Notice::ResourceUpdated {
                uri: "line\nbreak\u{1}".into(),
            },
            Notice::Broadcast {
                method: "notifications/a\"b".into(),
                params: None,
            },
        ] {
            let publication = Publication::new("node\\1", &notice).expect("publishable");
            let (origin, back) = parse(publication.wire()).expect("a notice to the others");
            assert_eq!((origin.as_str(), back), ("node\\1", notice));
        }
    }

    #[test]
    fn malformed_messages_are_not_notices() {
        for bad in [
            &b"not json"[..],
            br#"{"origin":"x"}"#,
            br#"{"origin":"x","method":"tools/call"}"#,
            br#"{"origin":"x","method":"notifications/a","uri":"u"}"#,
            br#"{"method":"notifications/a"}"#,
        ] {
            assert!(parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_largest_publication_is_sent_and_one_byte_more_is_not() {
        let overhead = Publication::new("n", &Notice::ResourceUpdated { uri: String::new() })
            .unwrap()
            .wire
            .len();
        let at = Notice::ResourceUpdated {
            uri: "u".repeat(MAX_PUBLICATION - overhead),
        };
        let wire = Publication::new("n", &at).expect("at the limit");
        assert_eq!(wire.wire.len(), MAX_PUBLICATION);
        assert!(parse(wire.wire()).is_some());
        let past = Notice::ResourceUpdated {
            uri: "u".repeat(MAX_PUBLICATION - overhead + 1),
        };
        assert!(Publication::new("n", &past).is_none());
        let mut long = wire.wire.clone();
        long.insert(long.len() - 2, b'u');
        assert!(parse(&long).is_none(), "one byte past the limit is refused");
    }

    /// Params of `depth` levels: an object holding arrays.
    fn nested(depth: usize) -> String {
        format!(
            r#"{{"a":{}{}}}"#,
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    }

    fn broadcast(params: &str) -> Notice {
        Notice::Broadcast {
            method: "notifications/message".into(),
            params: Some(RawValue::from_string(params.into()).unwrap()),
        }
    }

    /// The wire form of a broadcast from another node, made by hand (as a hostile one would).
    fn wire(params: &str) -> Vec<u8> {
        format!(r#"{{"origin":"other","method":"notifications/message","params":{params}}}"#)
            .into_bytes()
    }

    /// Whether a client parsing the notification that carries `params` with `serde_json` can.
    fn client_parses(params: &str) -> bool {
        let message =
            format!(r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{params}}}"#);
        serde_json::from_str::<serde_json::Value>(&message).is_ok()
    }

    #[test]
    fn params_nested_to_the_limit_are_taken_and_one_past_refused() {
        let at = nested(MAX_PARAMS_DEPTH);
        assert!(client_parses(&at), "the limit is what a client can parse");
        let publication = Publication::new("other", &broadcast(&at)).expect("published");
        assert_eq!(parse(publication.wire()).unwrap().1, broadcast(&at));
        assert!(parse(&wire(&at)).is_some());

        let past = nested(MAX_PARAMS_DEPTH + 1);
        assert!(!client_parses(&past), "one more is what a client cannot");
        assert!(Publication::new("other", &broadcast(&past)).is_none());
        assert!(parse(&wire(&past)).is_none(), "refused on receipt");

        // The attack: 100,000 levels, within the size limit.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&wire(&deep)).is_none());
        assert!(Publication::new("other", &broadcast(&deep)).is_none());
    }

    #[test]
    fn params_that_are_not_an_object_are_refused_both_ways() {
        for params in ["[1]", "[]", r#""text""#, "3", "true"] {
            assert!(parse(&wire(params)).is_none(), "{params} received");
            assert!(
                Publication::new("n", &broadcast(params)).is_none(),
                "{params} published"
            );
        }
        // Absent and null are the same: no params.
        assert!(parse(&wire("null")).is_some());
        assert!(parse(&wire("{}")).is_some());
    }

    #[test]
    fn only_notifications_are_published() {
        let request = Notice::Broadcast {
            method: "tools/call".into(),
            params: None,
        };
        assert!(Publication::new("n", &request).is_none());
    }

    #[test]
    fn a_publication_no_node_would_take_is_dropped_and_counted() {
        let (input, _keep) = async_channel::bounded(1);
        let (link, _port) = link("n", input);
        link.publish(&broadcast(&nested(MAX_PARAMS_DEPTH + 1)));
        link.publish(&broadcast("[1]"));
        link.publish(&Notice::ResourceUpdated {
            uri: "u".repeat(MAX_PUBLICATION),
        });
        assert_eq!((link.stats().dropped, link.stats().queued), (3, 0));
        link.publish(&broadcast(&nested(MAX_PARAMS_DEPTH)));
        assert_eq!((link.stats().dropped, link.stats().queued), (3, 1));
    }

    #[test]
    fn the_queue_takes_its_count_and_bytes_then_drops_and_counts() {
        let (input, _keep) = async_channel::bounded(1);
        let (link, port) = link("n", input);
        for _ in 0..PUBLICATION_QUEUE {
            link.publish(&notice());
        }
        assert_eq!(link.stats().queued, PUBLICATION_QUEUE as u64);
        assert_eq!(link.stats().dropped, 0);
        link.publish(&notice());
        assert_eq!(link.stats().dropped, 1, "one past the count is dropped");
        smol::block_on(async { while port.publications.try_recv().is_ok() {} });
        // Bytes: publications of ~200 KiB fill the byte budget before the count.
        link.counters.queued_bytes.store(0, Ordering::Relaxed);
        let big = Notice::ResourceUpdated {
            uri: "u".repeat(200 * 1024),
        };
        let each = Publication::new("n", &big).unwrap().wire.len() as u64;
        let fit = PUBLICATION_BYTES / each;
        for _ in 0..fit {
            link.publish(&big);
        }
        assert_eq!(link.stats().queued, fit);
        assert_eq!(link.stats().queued_bytes, fit * each);
        link.publish(&big);
        assert_eq!(link.stats().dropped, 2, "one past the bytes is dropped");
        smol::block_on(async {
            for _ in 0..fit {
                port.next_publication().await.unwrap();
            }
        });
        assert_eq!(link.stats().queued_bytes, 0, "taking gives the bytes back");
    }

    #[test]
    fn a_node_refuses_its_own_publication_and_delivers_another_nodes() {
        let (input, inputs) = async_channel::bounded(4);
        let (_link, port) = link("me", input);
        smol::block_on(async {
            let own = Publication::new("me", &notice()).unwrap();
            assert_eq!(port.deliver(own.wire()).await, Err(Refusal::Own));
            let other = Publication::new("them", &notice()).unwrap();
            assert_eq!(port.deliver(other.wire()).await, Ok(()));
            assert_eq!(port.deliver(b"{}").await, Err(Refusal::Malformed));
        });
        assert_eq!(
            inputs.len(),
            1,
            "only the other node's notice reaches the server"
        );
        assert!(matches!(inputs.try_recv(), Ok(Input::Remote(n)) if n == notice()));
    }
}
