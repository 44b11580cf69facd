//! Identifiers of the engine's entities. Each names a slot of its kind's storage and the slot's
//! generation (see `slab.rs`), and is never reused: a handle to an entity that ended can never
//! reach a newer one.

use core::fmt;

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) u64);

        impl $name {
            /// The raw number, for logs and metrics labels, or for a host that keeps ids
            /// across a language boundary.
            #[must_use]
            pub fn as_u64(self) -> u64 {
                self.0
            }

            /// The id whose raw number is `raw`. Ids are never reused, so a number that names
            /// nothing live is only a stale id: commands given it return
            /// [`CommandError::StaleHandle`](super::CommandError::StaleHandle) or do nothing.
            #[must_use]
            pub fn from_u64(raw: u64) -> Self {
                $name(raw)
            }
        }

        impl super::slab::SlabKey for $name {
            fn from_raw(raw: u64) -> Self {
                $name(raw)
            }

            fn raw(self) -> u64 {
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
    /// A bearer token the application is asked to verify (see
    /// [`Event::VerifyToken`](super::Event::VerifyToken)).
    VerificationId,
    "verification#"
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

impl RequestHandle {
    /// The handle made of its parts, as a host across a language boundary keeps them. Parts
    /// that do not belong together make a stale handle, never another request's.
    #[must_use]
    pub fn from_parts(session: SessionKey, request: InflightId) -> Self {
        RequestHandle {
            session,
            inflight: request,
        }
    }

    /// The request's own id.
    #[must_use]
    pub fn request(self) -> InflightId {
        self.inflight
    }
}

/// The application's handle on a request it sent to the client; the answer arrives as
/// [`Event::ClientResponse`](super::Event::ClientResponse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutboundHandle {
    /// The session the request went to.
    pub session: SessionKey,
    pub(crate) outbound: OutboundId,
}

impl OutboundHandle {
    /// The handle made of its parts, as a host across a language boundary keeps them. Parts
    /// that do not belong together make a stale handle, never another request's.
    #[must_use]
    pub fn from_parts(session: SessionKey, outbound: OutboundId) -> Self {
        OutboundHandle { session, outbound }
    }

    /// The outbound request's own id.
    #[must_use]
    pub fn outbound(self) -> OutboundId {
        self.outbound
    }
}
