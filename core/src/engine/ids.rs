//! Identifiers of the engine's entities. Every id comes from one counter that only grows, so an
//! id is never reused: a handle to an entity that ended can never reach a newer one.

use core::fmt;

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) u64);

        impl $name {
            /// The raw number, for logs and metrics labels.
            #[must_use]
            pub fn as_u64(self) -> u64 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

entity_id!(
    /// A transport connection (byte level).
    ConnId,
    "conn#"
);
entity_id!(
    /// One HTTP request being answered.
    ExchangeId,
    "exchange#"
);
entity_id!(
    /// A session. The wire id (`Mcp-Session-Id`) is a secret; this handle is not.
    SessionKey,
    "session#"
);
entity_id!(
    /// An SSE stream, or a POST's responses waiting to be sent as one JSON body.
    StreamId,
    "stream#"
);
entity_id!(
    /// A request from the client that the application has not answered yet.
    InflightId,
    "request#"
);
entity_id!(
    /// A request to the client whose response has not arrived yet.
    OutboundId,
    "outbound#"
);

/// The application's handle on a client request: answer it with
/// [`Engine::respond`](super::Engine::respond), relate progress, logs and client requests to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestHandle {
    /// The session the request arrived on.
    pub session: SessionKey,
    pub(crate) inflight: InflightId,
}

/// The application's handle on a request it sent to the client; the answer arrives as
/// [`Event::ClientResponse`](super::Event::ClientResponse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutboundHandle {
    /// The session the request went to.
    pub session: SessionKey,
    pub(crate) outbound: OutboundId,
}

/// Hands out ids in increasing order.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdCounter(u64);

impl IdCounter {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}
