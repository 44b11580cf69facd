//! Connections from trusted proxies: the PROXY protocol v2 header names the client, whose
//! address then counts for the per-peer cap; anyone else's header is HTTP (and refused as such).

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr};

use super::harness::{Harness, INIT};
use crate::engine::Config;
use crate::proxy_protocol::SIGNATURE;

const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));

fn header(client: Ipv4Addr) -> Vec<u8> {
    let mut wire = Vec::from(SIGNATURE);
    wire.extend_from_slice(&[0x21, 0x11, 0, 12]);
    wire.extend_from_slice(&client.octets());
    wire.extend_from_slice(&[10, 0, 0, 1, 0xC3, 0x50, 0x0B, 0xB8]);
    wire
}

fn behind_a_proxy(cap: usize) -> Harness {
    let mut config = Config::new("t", "1");
    config.limits.max_connections_per_peer = Some(cap);
    config.proxy_protocol_from = alloc::vec!["10.0.0.0/24".into()];
    Harness::new(config)
}

/// A connection from the proxy, its header and then `then`, fed one byte at a time.
fn proxied(h: &mut Harness, client: Ipv4Addr, then: &[u8]) -> crate::engine::ConnId {
    let conn = h.engine.handle_accept(h.now, Some(PROXY)).unwrap();
    let mut wire = header(client);
    wire.extend_from_slice(then);
    for byte in wire.chunks(1) {
        assert_eq!(h.engine.handle_bytes(h.now, conn, byte), 1);
        h.check();
    }
    h.pump();
    conn
}

#[test]
fn the_header_names_the_client_that_the_cap_counts() {
    let mut h = behind_a_proxy(2);
    let ada = Ipv4Addr::new(198, 51, 100, 1);
    let bob = Ipv4Addr::new(198, 51, 100, 2);
    let init = Harness::post_wire(None, INIT);
    // Two of ada's through the one proxy address, then bob's: each client has its own cap.
    for client in [ada, ada, bob] {
        let conn = proxied(&mut h, client, &init);
        assert_eq!(h.take_response(conn).unwrap().status, 200);
    }
    let third = proxied(&mut h, ada, &init);
    let busy = h.take_response(third).unwrap();
    assert_eq!(busy.status, 503);
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(h.engine.counters().proxied_connections, 4);
    h.check();
}

#[test]
fn a_trusted_proxys_own_connection_without_a_header_is_direct() {
    let mut h = behind_a_proxy(2);
    let conn = h.engine.handle_accept(h.now, Some(PROXY)).unwrap();
    // In pieces, so that the first bytes are taken before the connection proves direct.
    let wire = Harness::post_wire(None, INIT);
    for piece in wire.chunks(3) {
        assert_eq!(h.engine.handle_bytes(h.now, conn, piece), piece.len());
        h.check();
    }
    h.pump();
    assert_eq!(h.take_response(conn).unwrap().status, 200);
    assert_eq!(h.engine.counters().proxied_connections, 0);
    h.check();
}

#[test]
fn anyone_elses_header_is_not_read() {
    let mut h = behind_a_proxy(2);
    let stranger = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 9));
    let conn = h.engine.handle_accept(h.now, Some(stranger)).unwrap();
    let mut wire = header(Ipv4Addr::new(198, 51, 100, 1));
    wire.extend_from_slice(&Harness::post_wire(None, INIT));
    h.send(conn, &wire);
    let refused = h.take_response(conn).unwrap();
    assert_eq!(refused.status, 400, "not HTTP");
    assert_eq!(h.engine.counters().proxied_connections, 0);
    h.check();
}

#[test]
fn a_header_it_cannot_accept_is_a_clear_400() {
    let mut h = behind_a_proxy(2);
    let conn = h.engine.handle_accept(h.now, Some(PROXY)).unwrap();
    let mut wire = header(Ipv4Addr::new(198, 51, 100, 1));
    wire[12] = 0x31;
    h.send(conn, &wire);
    let refused = h.take_response(conn).unwrap();
    assert_eq!(refused.status, 400);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PROXY protocol version")
    );
    assert!(h.closed.contains(&conn));
    assert_eq!(h.engine.counters().proxy_headers_refused, 1);
    h.check();
}

#[test]
fn a_client_past_twice_its_cap_is_dropped_at_its_header() {
    let mut h = behind_a_proxy(1);
    let ada = Ipv4Addr::new(198, 51, 100, 1);
    let open: Vec<_> = (0..2).map(|_| proxied(&mut h, ada, b"")).collect();
    let dropped = proxied(&mut h, ada, b"");
    assert!(h.closed.contains(&dropped), "closed without a word");
    assert!(!h.closed.contains(&open[0]));
    h.engine.handle_closed(h.now, open[0]);
    h.close_all();
    h.check();
    let stats = h.engine.stats();
    assert!(
        stats.is_quiescent(),
        "{:?}",
        stats.residue().collect::<Vec<_>>()
    );
}

/// A connection refused before its header arrives (at the connection cap, or for its slowness)
/// gets that one answer: its header is not read and no second refusal follows.
#[test]
fn a_connection_already_refused_gets_one_answer() {
    let mut config = Config::new("t", "1");
    config.limits.max_connections = 2;
    config.limits.max_connections_per_peer = Some(1);
    config.proxy_protocol_from = alloc::vec!["10.0.0.0/24".into()];
    let mut h = Harness::new(config);
    let ada = Ipv4Addr::new(198, 51, 100, 1);
    let _a = proxied(&mut h, ada, b"");
    let _b = proxied(&mut h, Ipv4Addr::new(198, 51, 100, 2), b"");
    let c = h.engine.handle_accept(h.now, Some(PROXY)).unwrap();
    let mut wire = header(ada);
    wire.extend_from_slice(&Harness::post_wire(None, INIT));
    h.send(c, &wire);
    let answer = h.take_response(c).unwrap();
    assert_eq!(answer.status, 503);
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("too many connections")
    );
    assert!(h.take_response(c).is_none(), "one answer only");
    assert_eq!(h.engine.counters().connections_refused, 1);
    h.check();

    // Too slow: 408, and the rest of its header changes nothing.
    let mut h = behind_a_proxy(1);
    let slow = h.engine.handle_accept(h.now, Some(PROXY)).unwrap();
    let wire = header(ada);
    h.engine.handle_bytes(h.now, slow, &wire[..5]);
    h.advance(31_000);
    h.engine.handle_bytes(h.now, slow, &wire[5..]);
    h.pump();
    assert_eq!(h.take_response(slow).unwrap().status, 408);
    assert!(h.take_response(slow).is_none(), "one answer only");
    h.check();
}
