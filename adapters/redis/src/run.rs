//! The bus's one task: a subscriber connection and a publisher connection, each reconnected
//! with backoff when lost, one attempt at a time and each attempt within its deadline.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mcpwire_smol::bus::{BusPort, Publication, Refusal};
use redis_protocol::resp2::types::OwnedFrame;
use smol::Timer;
use smol::future::FutureExt;

use crate::RedisBus;
use crate::connection::{Connection, protocol_error, within};
use crate::resp::Received;

/// Whether each connection is up; the bus is connected when both are.
struct Up {
    subscriber: AtomicBool,
    publisher: AtomicBool,
}

impl Up {
    fn set(&self, port: &BusPort, which: &AtomicBool, up: bool) {
        which.store(up, Ordering::Relaxed);
        port.set_connected(
            self.subscriber.load(Ordering::Relaxed) && self.publisher.load(Ordering::Relaxed),
        );
    }
}

/// Runs both connections until the server drops the task (or stops, for the publisher).
pub(crate) async fn run(bus: RedisBus, port: BusPort) {
    let up = Up {
        subscriber: AtomicBool::new(false),
        publisher: AtomicBool::new(false),
    };
    // The subscriber runs until the task is dropped; the publisher ends when the server has
    // stopped, and so ends the task with it.
    subscriber(&bus, &port, &up)
        .or(publisher(&bus, &port, &up))
        .await;
}

/// Exponential backoff with full jitter between `Backoff::FIRST` and `bus.max_backoff`.
struct Backoff {
    attempt: u32,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);

    fn new(max: Duration) -> Backoff {
        Backoff { attempt: 0, max }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The wait before the next attempt: uniformly random up to the doubled ceiling, and at
    /// least the first step, so that nodes that lost Redis together do not return together.
    fn next(&mut self) -> Duration {
        let ceiling = Backoff::FIRST
            .saturating_mul(1 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let first_ms = u64::try_from(Backoff::FIRST.as_millis()).unwrap_or(0);
        Duration::from_millis(fastrand::u64(first_ms.min(ceiling_ms)..=ceiling_ms))
    }
}

async fn subscriber(bus: &RedisBus, port: &BusPort, up: &Up) {
    let mut backoff = Backoff::new(bus.max_backoff);
    let mut connected_before = false;
    loop {
        match subscribe(bus).await {
            Ok(mut connection) => {
                if connected_before {
                    port.count_reconnect();
                }
                connected_before = true;
                backoff.reset();
                tracing::info!(address = %bus.target.address, channel = %bus.channel, "bus subscribed");
                up.set(port, &up.subscriber, true);
                let outcome = listen(bus, port, &mut connection).await;
                up.set(port, &up.subscriber, false);
                if let Err(error) = outcome {
                    tracing::warn!(%error, "bus subscriber lost; reconnecting");
                }
            }
            Err(error) => tracing::debug!(%error, "bus subscriber could not connect"),
        }
        Timer::after(backoff.next()).await;
    }
}

async fn subscribe(bus: &RedisBus) -> io::Result<Connection> {
    let mut connection = Connection::open(&bus.target, bus.connect_timeout).await?;
    within(bus.connect_timeout, async {
        connection
            .send(&[b"SUBSCRIBE", bus.channel.as_bytes()])
            .await?;
        match connection.frame().await? {
            OwnedFrame::Array(parts) if is_bulk(parts.first(), b"subscribe") => Ok(()),
            other => Err(protocol_error(format!("SUBSCRIBE answered {other:?}"))),
        }
    })
    .await?;
    Ok(connection)
}

fn is_bulk(frame: Option<&OwnedFrame>, text: &[u8]) -> bool {
    matches!(frame, Some(OwnedFrame::BulkString(b)) if b.eq_ignore_ascii_case(text))
}

/// What woke the listener.
enum Heard {
    Frame(io::Result<Received>),
    Tick,
}

/// Delivers messages until the connection fails or goes quiet: a PING every heartbeat, and
/// nothing heard for two of them (not even the pong) is a dead connection (a peer that
/// vanished without a FIN would otherwise hold it forever).
async fn listen(bus: &RedisBus, port: &BusPort, connection: &mut Connection) -> io::Result<()> {
    /// Frames taken before the task gives the thread back: the bus shares it with the server's
    /// sockets, and a Redis that never stops sending must not keep them waiting.
    const FRAMES_PER_TURN: u32 = 64;
    let mut heard = Instant::now();
    let mut this_turn = 0;
    loop {
        this_turn += 1;
        if this_turn == FRAMES_PER_TURN {
            this_turn = 0;
            smol::future::yield_now().await;
        }
        let next = async { Heard::Frame(connection.receive().await) }
            .or(async {
                Timer::after(bus.heartbeat).await;
                Heard::Tick
            })
            .await;
        match next {
            Heard::Tick => {
                if heard.elapsed() >= bus.heartbeat * 2 {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "Redis went quiet"));
                }
                connection.send(&[b"PING"]).await?;
            }
            Heard::Frame(received) => {
                heard = Instant::now();
                match received? {
                    Received::Frame {
                        frame: OwnedFrame::Array(parts),
                        ..
                    } => {
                        if let [kind, _channel, OwnedFrame::BulkString(payload)] = parts.as_slice()
                        {
                            if is_bulk(Some(kind), b"message")
                                && port.deliver(payload).await == Err(Refusal::Stopped)
                            {
                                return Ok(());
                            }
                        }
                    }
                    Received::Frame { .. } => {}
                    // Nothing but a message (another node's, or anyone's PUBLISH) is that
                    // large: refused, skipped, and the subscription goes on.
                    Received::Oversized { len } => {
                        tracing::debug!(len, "bus message over the frame limit refused");
                        port.count_refused();
                    }
                }
            }
        }
    }
}

async fn publisher(bus: &RedisBus, port: &BusPort, up: &Up) {
    let mut backoff = Backoff::new(bus.max_backoff);
    let mut connected_before = false;
    // A publication whose write failed, sent first on the next connection.
    let mut unsent: Option<Publication> = None;
    // Whether Redis refused the last PUBLISH (an ACL without it, a read-only replica): a new
    // connection then proves itself by a publication before the bus says it is connected.
    let mut refused = false;
    loop {
        if let Ok(mut connection) = Connection::open(&bus.target, bus.connect_timeout).await {
            if connected_before {
                port.count_reconnect();
            }
            connected_before = true;
            backoff.reset();
            if !refused {
                up.set(port, &up.publisher, true);
            }
            let ended = publish(bus, port, &mut connection, &mut unsent, || {
                refused = false;
                up.set(port, &up.publisher, true);
            })
            .await;
            up.set(port, &up.publisher, false);
            match ended {
                Ended::Stopped => return,
                Ended::Refused => refused = true,
                Ended::Lost => {}
            }
        }
        Timer::after(backoff.next()).await;
    }
}

/// What ended the publisher's wait.
enum Idle {
    Next(Option<Publication>),
    Lost,
}

/// Why a publisher's connection ended.
enum Ended {
    /// The server stopped.
    Stopped,
    /// The connection failed or Redis closed it.
    Lost,
    /// Redis answered a PUBLISH with something other than its count of receivers.
    Refused,
}

/// Publishes until the connection fails or a PUBLISH is refused, or the server stops;
/// `published` is called after each publication Redis took. A publication whose write failed
/// is kept for the next connection; one written whose reply was lost or refused is counted
/// dropped, not sent again: delivery is at most once, never twice.
async fn publish(
    bus: &RedisBus,
    port: &BusPort,
    connection: &mut Connection,
    unsent: &mut Option<Publication>,
    mut published: impl FnMut(),
) -> Ended {
    loop {
        let publication = match unsent.take() {
            Some(publication) => publication,
            // Redis sends nothing unasked on this connection: a frame or an end while idle
            // means it is gone, found now rather than by the next publication's failure.
            None => match async { Idle::Next(port.next_publication().await) }
                .or(async {
                    let _ = connection.frame().await;
                    Idle::Lost
                })
                .await
            {
                Idle::Next(Some(publication)) => publication,
                Idle::Next(None) => return Ended::Stopped,
                Idle::Lost => return Ended::Lost,
            },
        };
        let command: [&[u8]; 3] = [b"PUBLISH", bus.channel.as_bytes(), publication.wire()];
        if within(bus.connect_timeout, connection.send(&command))
            .await
            .is_err()
        {
            *unsent = Some(publication);
            return Ended::Lost;
        }
        match within(bus.connect_timeout, connection.frame()).await {
            Ok(OwnedFrame::Integer(_)) => {
                port.count_published();
                published();
            }
            Ok(_) => {
                port.count_dropped();
                return Ended::Refused;
            }
            Err(_) => {
                port.count_dropped();
                return Ended::Lost;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling_with_jitter_and_starts_over() {
        let max = Duration::from_secs(5);
        let mut backoff = Backoff::new(max);
        let mut ceiling = Backoff::FIRST;
        for _ in 0..20 {
            let wait = backoff.next();
            assert!(
                wait >= Backoff::FIRST && wait <= ceiling.min(max),
                "{wait:?}"
            );
            ceiling = ceiling.saturating_mul(2);
        }
        backoff.reset();
        assert!(backoff.next() <= Backoff::FIRST);
    }
}
