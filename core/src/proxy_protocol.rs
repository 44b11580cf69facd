//! The PROXY protocol, version 2: the binary header a proxy (HAProxy `send-proxy-v2`, cloud
//! load balancers) sends at the start of a connection to say whose it is.
//!
//! Behind a proxy every client shares the proxy's address, so a per-peer connection cap would
//! cap the proxy instead of the client. A header from a proxy the server trusts names the
//! client; from anyone else it is never read (it would let any client claim any address).
//!
//! [`HeaderReader`] reads the header incrementally, holding at most the 16 fixed bytes and the
//! address block (36 bytes for IPv6); the type-length-value extensions after the addresses are
//! skipped as they arrive, never buffered. A trusted proxy's connection that does not begin
//! with the header is a direct one from the proxy's own host (a health check, a metrics
//! scrape): the bytes read so far are given back for the HTTP codec.
//!
//! # Examples
//!
//! ```
//! use mcpwire_core::proxy_protocol::{HeaderReader, Read};
//!
//! let mut header = Vec::from(*b"\r\n\r\n\0\r\nQUIT\n");
//! header.extend_from_slice(&[0x21, 0x11, 0, 12]); // v2, PROXY, TCP over IPv4, 12 bytes
//! header.extend_from_slice(&[192, 0, 2, 7, 10, 0, 0, 1, 0xC3, 0x50, 0x0B, 0xB8]);
//! header.extend_from_slice(b"POST /mcp HTTP/1.1\r\n");
//!
//! let mut reader = HeaderReader::default();
//! let (used, read) = reader.read(&header);
//! assert_eq!(used, 28);
//! assert_eq!(read, Read::Proxied(Some("192.0.2.7".parse().unwrap())));
//! ```

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The twelve bytes every version 2 header begins with. An HTTP request never does: its
/// ignorable blank lines are never followed by a NUL.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest header accepted, in bytes after the 16 fixed ones (the protocol allows 65,535).
/// Real proxies send the addresses and a few extensions (an ALPN, an authority, a unique id,
/// TLS details): far less.
pub const MAX_HEADER_LENGTH: usize = 2048;

/// The address block of TCP over IPv6, the largest one read: two addresses and two ports.
const MAX_ADDRESSES: usize = 36;

/// What reading got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The header is not complete: offer more bytes.
    More,
    /// A complete header: the client's address, or `None` when the proxy does not name one
    /// (a `LOCAL` connection, such as the proxy's own health check, or an address family
    /// other than IPv4 and IPv6).
    Proxied(Option<IpAddr>),
    /// The connection does not begin with a header. The bytes taken from earlier reads (at
    /// most eleven) are [`HeaderReader::given_back`], and come before the rest of this read.
    Direct,
    /// A header this server cannot accept; the connection should be refused.
    Invalid(&'static str),
}

/// Reads one version 2 header at the start of a connection.
#[derive(Debug, Clone)]
pub struct HeaderReader {
    /// The fixed part, then the address block, as they arrive.
    held: [u8; 16 + MAX_ADDRESSES],
    filled: usize,
    /// Header bytes after the fixed part still to come, once it is complete.
    remaining: usize,
    /// How many bytes of the address block to keep (the rest is skipped).
    keep: usize,
    /// Signature bytes given back, once the connection proved direct.
    given_back: usize,
}

impl Default for HeaderReader {
    fn default() -> Self {
        HeaderReader {
            held: [0; 16 + MAX_ADDRESSES],
            filled: 0,
            remaining: 0,
            keep: 0,
            given_back: 0,
        }
    }
}

impl HeaderReader {
    /// Reads from `bytes`, the connection's next bytes. Returns how many were consumed (the
    /// rest belong to the HTTP codec) and what reading got to. After [`Read::Direct`] nothing
    /// is consumed: the bytes [`HeaderReader::given_back`] and then all of `bytes` are HTTP.
    pub fn read(&mut self, bytes: &[u8]) -> (usize, Read) {
        let mut used = 0;
        while self.filled < 16 {
            let Some(&byte) = bytes.get(used) else {
                return (used, Read::More);
            };
            if self.filled < SIGNATURE.len() && byte != SIGNATURE[self.filled] {
                // What this read took is still in `bytes`: give back only the earlier reads'.
                self.given_back = self.filled - used;
                return (0, Read::Direct);
            }
            self.held[self.filled] = byte;
            self.filled += 1;
            used += 1;
            if self.filled == 16 {
                if let Err(why) = self.fixed_part() {
                    return (used, Read::Invalid(why));
                }
            }
        }
        let kept_end = 16 + self.keep;
        while self.filled < kept_end {
            let Some(&byte) = bytes.get(used) else {
                return (used, Read::More);
            };
            self.held[self.filled] = byte;
            self.filled += 1;
            used += 1;
            self.remaining -= 1;
        }
        let skipped = self.remaining.min(bytes.len() - used);
        used += skipped;
        self.remaining -= skipped;
        if self.remaining > 0 {
            return (used, Read::More);
        }
        (used, Read::Proxied(self.source()))
    }

    /// The bytes an earlier read took that turned out to be HTTP, after [`Read::Direct`].
    #[must_use]
    pub fn given_back(&self) -> &[u8] {
        &self.held[..self.given_back]
    }

    /// Checks the version, command, family and length of a complete fixed part.
    fn fixed_part(&mut self) -> Result<(), &'static str> {
        let version_command = self.held[12];
        if version_command >> 4 != 2 {
            return Err("unsupported PROXY protocol version");
        }
        let command = version_command & 0x0F;
        if command > 1 {
            return Err("unknown PROXY protocol command");
        }
        let length = usize::from(u16::from_be_bytes([self.held[14], self.held[15]]));
        if length > MAX_HEADER_LENGTH {
            return Err("PROXY protocol header too long");
        }
        let needs = match self.family() {
            Some(Family::V4) => 12,
            Some(Family::V6) => 36,
            None => 0,
        };
        if command == 1 && length < needs {
            return Err("PROXY protocol address block too short");
        }
        self.remaining = length;
        self.keep = if command == 1 { needs } else { 0 };
        Ok(())
    }

    /// The address family of a TCP connection the header describes, if it is one mcpwire
    /// reads an address from.
    fn family(&self) -> Option<Family> {
        match self.held[13] {
            0x11 => Some(Family::V4),
            0x21 => Some(Family::V6),
            _ => None,
        }
    }

    /// The source address of a complete `PROXY` header.
    fn source(&self) -> Option<IpAddr> {
        if self.keep == 0 {
            return None;
        }
        let at = &self.held[16..];
        match self.family()? {
            Family::V4 => Some(IpAddr::V4(Ipv4Addr::new(at[0], at[1], at[2], at[3]))),
            Family::V6 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&at[..16]);
                Some(IpAddr::V6(Ipv6Addr::from(octets)))
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Family {
    V4,
    V6,
}

/// An address, or a network in CIDR notation, that proxies connect from.
///
/// # Examples
///
/// ```
/// use mcpwire_core::proxy_protocol::Network;
///
/// let proxies = Network::parse("10.1.0.0/16").unwrap();
/// assert!(proxies.contains("10.1.200.3".parse().unwrap()));
/// assert!(!proxies.contains("10.2.0.1".parse().unwrap()));
/// assert!(Network::parse("127.0.0.1").unwrap().contains("127.0.0.1".parse().unwrap()));
/// assert_eq!(Network::parse("10.0.0.0/33"), None);
/// // Written mapped into IPv6, it is the IPv4 network.
/// let mapped = Network::parse("::ffff:10.1.0.0/112").unwrap();
/// assert!(mapped.contains("10.1.0.7".parse().unwrap()));
/// assert!(mapped.contains("::ffff:10.1.0.7".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// `ADDRESS` (one host) or `ADDRESS/PREFIX`; `None` if it is neither.
    #[must_use]
    pub fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().ok()?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return None;
        }
        // A peer's IPv4-mapped address is matched as IPv4: so is a network written that way.
        if let IpAddr::V6(v6) = address {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                return Some(Network {
                    address: IpAddr::V4(v4),
                    prefix: prefix - 96,
                });
            }
        }
        Some(Network { address, prefix })
    }

    /// Whether `address` is in the network (an IPv4 address mapped into IPv6 counts as IPv4).
    #[must_use]
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        let (ours, theirs, bits) = match (self.address, address) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                (u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || ours >> shift == theirs >> shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn header(command: u8, family: u8, addresses: &[u8], extensions: usize) -> Vec<u8> {
        let mut wire = Vec::from(SIGNATURE);
        wire.push(0x20 | command);
        wire.push(family);
        let length = u16::try_from(addresses.len() + extensions).unwrap();
        wire.extend_from_slice(&length.to_be_bytes());
        wire.extend_from_slice(addresses);
        wire.extend(core::iter::repeat_n(0xAA, extensions));
        wire
    }

    const V4: [u8; 12] = [203, 0, 113, 9, 10, 0, 0, 1, 0x30, 0x39, 0x0B, 0xB8];

    fn v6() -> [u8; 36] {
        let mut block = [0u8; 36];
        block[..16].copy_from_slice(&"2001:db8::5".parse::<Ipv6Addr>().unwrap().octets());
        block[16..32].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        block
    }

    /// Reads `wire` in pieces of `split` bytes; returns the outcome and the bytes left.
    fn read_in_pieces(wire: &[u8], split: usize) -> (Read, Vec<u8>) {
        let mut reader = HeaderReader::default();
        let mut at = 0;
        loop {
            let end = (at + split).min(wire.len());
            let (used, read) = reader.read(&wire[at..end]);
            match read {
                Read::More if end < wire.len() => at += used,
                Read::Direct => {
                    let mut rest = Vec::from(reader.given_back());
                    rest.extend_from_slice(&wire[at..]);
                    return (read, rest);
                }
                read => return (read, Vec::from(&wire[at + used..])),
            }
        }
    }

    #[test]
    fn addresses_are_read_whatever_the_split() {
        let mut v4 = header(1, 0x11, &V4, 0);
        v4.extend_from_slice(b"GET /");
        let mut v6_wire = header(1, 0x21, &v6(), 40);
        v6_wire.extend_from_slice(b"GET /");
        for split in 1..=v6_wire.len() {
            assert_eq!(
                read_in_pieces(&v4, split),
                (
                    Read::Proxied(Some("203.0.113.9".parse().unwrap())),
                    Vec::from(*b"GET /")
                ),
                "split {split}"
            );
            assert_eq!(
                read_in_pieces(&v6_wire, split),
                (
                    Read::Proxied(Some("2001:db8::5".parse().unwrap())),
                    Vec::from(*b"GET /")
                ),
                "split {split}"
            );
        }
    }

    #[test]
    fn local_and_other_families_name_no_client() {
        let local = header(0, 0x00, &[], 0);
        assert_eq!(read_in_pieces(&local, 3).0, Read::Proxied(None));
        // UDP, and Unix sockets: nothing to read an IP address from.
        let udp = header(1, 0x12, &V4, 0);
        assert_eq!(read_in_pieces(&udp, 5).0, Read::Proxied(None));
        let unix = header(1, 0x31, &[0; 216], 0);
        assert_eq!(read_in_pieces(&unix, 100).0, Read::Proxied(None));
    }

    #[test]
    fn a_direct_connection_gets_its_bytes_back() {
        for wire in [
            &b"POST /mcp HTTP/1.1\r\n"[..],
            b"\r\n\r\nGET / HTTP/1.1\r\n",
            b"\r\n\r\n\0\r\nQUIX",
        ] {
            for split in 1..=wire.len() {
                assert_eq!(
                    read_in_pieces(wire, split),
                    (Read::Direct, Vec::from(wire)),
                    "{wire:?} split {split}"
                );
            }
        }
    }

    #[test]
    fn headers_it_cannot_accept_are_invalid() {
        let mut version1 = header(1, 0x11, &V4, 0);
        version1[12] = 0x11;
        let mut command = header(1, 0x11, &V4, 0);
        command[12] = 0x22;
        let short = header(1, 0x21, &V4, 0);
        for (wire, why) in [
            (version1, "unsupported PROXY protocol version"),
            (command, "unknown PROXY protocol command"),
            (short, "PROXY protocol address block too short"),
        ] {
            assert_eq!(read_in_pieces(&wire, 4).0, Read::Invalid(why));
        }
    }

    #[test]
    fn the_header_length_is_capped() {
        let at = header(1, 0x11, &V4, MAX_HEADER_LENGTH - V4.len());
        assert!(matches!(read_in_pieces(&at, 7).0, Read::Proxied(Some(_))));
        let past = header(1, 0x11, &V4, MAX_HEADER_LENGTH - V4.len() + 1);
        assert_eq!(
            read_in_pieces(&past, 7).0,
            Read::Invalid("PROXY protocol header too long")
        );
    }
}
