//! What a node of a cluster parses of its peers' bytes: the Redis bus's RESP2 reader
//! ([`redis_resp`]) and a received publication ([`bus_publication`]).

use mcpwire_redis::fuzzing::{FrameReader, Received};
use mcpwire_smol::bus::Notice;
use mcpwire_smol::bus::fuzzing::{parse, publication};
use redis_protocol::resp2::decode::decode;
use serde_json::value::RawValue;

/// What one reading of the bytes produced: the frames taken out, and the error that ended it.
#[derive(Debug, PartialEq)]
struct Reading {
    frames: Vec<Received>,
    error: Option<String>,
}

/// Reads `input` through a reader of `limit`, in reads of at most `split` bytes, checking its
/// bounds after every step: room to read after an incomplete frame, at most `limit` bytes
/// held, and no byte scanned twice.
fn read(input: &[u8], limit: usize, split: usize) -> Reading {
    let mut reader = FrameReader::new(limit);
    let mut frames = Vec::new();
    let mut rest = input;
    loop {
        match reader.next_frame() {
            Ok(Some(received)) => frames.push(received),
            Ok(None) => {
                assert!(reader.room() > 0, "no room after an incomplete frame");
                if rest.is_empty() {
                    return Reading {
                        frames,
                        error: None,
                    };
                }
                let taken = reader.receive(&rest[..split.min(rest.len())]);
                assert!(taken > 0, "the reader took nothing with room for it");
                rest = &rest[taken..];
            }
            Err(error) => {
                return Reading {
                    frames,
                    error: Some(error.to_string()),
                };
            }
        }
        assert!(reader.buffered() <= limit, "{} held", reader.buffered());
        let received = (input.len() - rest.len()) as u64;
        assert!(reader.examined() <= received, "a byte scanned twice");
    }
}

/// The first byte picks the size of each read (1 to 255 bytes), the second the reader's limit
/// (1 to 255 bytes, or 1 MiB when 0: small limits reach the skipping of oversized frames).
/// Read in those pieces and read whole, the bytes give the same frames and the same error;
/// each frame is what `redis-protocol` decodes from its bytes, each skipped one is over the
/// limit, and what is left incomplete the decoder does not take whole either.
pub fn redis_resp(data: &[u8]) {
    let [split, limit, input @ ..] = data else {
        return;
    };
    let split = usize::from(*split).max(1);
    let limit = match *limit {
        0 => 1 << 20,
        n => usize::from(n),
    };
    let whole = read(input, limit, usize::MAX);
    let pieces = read(input, limit, split);
    assert_eq!(whole, pieces, "the reads' split changed what was read");
    let mut at = 0;
    for received in &whole.frames {
        match received {
            Received::Frame { frame, len } => {
                assert!(
                    *len <= limit,
                    "a frame of {len} read under a limit of {limit}"
                );
                let bytes = &input[at..at + len];
                match decode(bytes) {
                    Ok(Some((decoded, used))) => assert_eq!((&decoded, used), (frame, *len)),
                    other => panic!("{bytes:?} read as {frame:?}, decoded as {other:?}"),
                }
                at += len;
            }
            Received::Oversized { len } => {
                assert!(
                    *len > limit,
                    "a frame of {len} skipped under a limit of {limit}"
                );
                at += len;
            }
        }
    }
    if whole.error.is_none() {
        // The reader has scanned the rest without an error: nested at most two deep, so the
        // (recursive) decoder can look at it.
        assert!(
            !matches!(decode(&input[at..]), Ok(Some(_))),
            "a frame the reader did not find: {:?}",
            &input[at..]
        );
    }
}

/// Whether a client parsing the notification that carries `params` with `serde_json` can:
/// `None` when it cannot for another reason than nesting (a number out of range).
fn client_parses(params: &RawValue) -> Option<bool> {
    let message = format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/fuzz","params":{}}}"#,
        params.get()
    );
    match serde_json::from_str::<serde_json::Value>(&message) {
        Ok(_) => Some(true),
        Err(error) if error.to_string().starts_with("recursion limit exceeded") => Some(false),
        Err(_) => None,
    }
}

/// The bytes as a message from another node: what a node takes, it would publish, and the
/// publication parses to the same origin and notice; a broadcast's params are an object a
/// client can parse. Then the bytes as a broadcast's params: published exactly when they are
/// an object a client can parse.
pub fn bus_publication(data: &[u8]) {
    if let Some((origin, notice)) = parse(data) {
        let again = publication(&origin, &notice).expect("what a node takes, it would publish");
        assert_eq!(
            parse(again.wire()),
            Some((origin, notice.clone())),
            "{again:?}"
        );
        if let Notice::Broadcast {
            params: Some(params),
            ..
        } = &notice
        {
            assert!(params.get().starts_with('{'), "{}", params.get());
            assert_ne!(client_parses(params), Some(false), "{}", params.get());
        }
    }
    let Ok(params) = serde_json::from_slice::<&RawValue>(data) else {
        return;
    };
    let notice = Notice::Broadcast {
        method: "notifications/fuzz".into(),
        params: Some(params.to_owned()),
    };
    let published = publication("fuzz", &notice).is_some();
    if data.len() < mcpwire_smol::bus::MAX_PUBLICATION / 2 {
        if let Some(parses) = client_parses(params) {
            assert_eq!(
                published,
                parses && params.get().starts_with('{'),
                "{}",
                params.get()
            );
        }
    }
}
