//! The PROXY protocol v2 header reader, fed a trusted proxy's bytes in the pieces the input
//! says and whole.

use mcpwire_core::proxy_protocol::{HeaderReader, MAX_HEADER_LENGTH, Read};

/// Reads `bytes` in pieces of `split` bytes: the outcome, and the bytes that follow the
/// header (for a direct connection: every byte, those taken before it proved direct first).
fn read_in_pieces(bytes: &[u8], split: usize) -> (Read, Vec<u8>, usize) {
    let mut reader = HeaderReader::default();
    let mut at = 0;
    loop {
        let end = (at + split).min(bytes.len());
        let (used, read) = reader.read(&bytes[at..end]);
        assert!(used <= end - at, "took more than it was given");
        match read {
            Read::More if end < bytes.len() => at += used,
            Read::Direct => {
                assert_eq!(used, 0, "a direct connection's bytes are all HTTP");
                let mut http = reader.given_back().to_vec();
                http.extend_from_slice(&bytes[at..]);
                return (Read::Direct, http, 0);
            }
            read => return (read, bytes[at + used..].to_vec(), at + used),
        }
    }
}

/// The first byte picks the size of the pieces (1 to 255); the rest is what the proxy sent.
/// Whatever the split, the outcome and what follows the header are the same; a direct
/// connection gives back exactly the bytes it was sent; a header is never longer than the cap.
pub fn proxy_header(data: &[u8]) {
    let [split, bytes @ ..] = data else {
        return;
    };
    let split = usize::from(*split).max(1);
    let whole = read_in_pieces(bytes, bytes.len().max(1));
    let pieces = read_in_pieces(bytes, split);
    assert_eq!(whole, pieces, "split {split}");
    match &whole {
        (Read::Direct, http, _) => assert_eq!(http.as_slice(), bytes, "no byte lost or repeated"),
        (Read::Proxied(_), rest, header) => {
            assert!(*header <= 16 + MAX_HEADER_LENGTH);
            assert_eq!(rest.as_slice(), &bytes[*header..]);
        }
        (Read::More | Read::Invalid(_), _, _) => {}
    }
}
