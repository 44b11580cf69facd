//! Session ids that start with a node's tag (`Config::session_id_prefix`), so that a load
//! balancer can route a session to the node that holds it; still 128 random bits after it.

use alloc::string::String;

use super::harness::Harness;
use crate::engine::{Config, MAX_SESSION_ID_PREFIX, valid_session_id_prefix};

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

fn prefixed(prefix: &str) -> Harness {
    let mut config = Config::new("t", "1");
    config.session_id_prefix = prefix.into();
    Harness::new(config)
}

fn random_part(id: &str, prefix: &str) -> String {
    let rest = id.strip_prefix(prefix).expect("the prefix");
    assert_eq!(rest.len(), 32, "{id}");
    assert!(rest.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    rest.into()
}

#[test]
fn session_ids_carry_the_prefix_and_still_work() {
    let mut h = prefixed("node-a.");
    let (first, _) = h.initialize();
    let (second, _) = h.initialize();
    assert_ne!(
        random_part(&first, "node-a."),
        random_part(&second, "node-a.")
    );
    assert_eq!(h.post(Some(&first), PING).status, 200);
    // The HTTP+SSE transport's sessionId carries it too.
    let (_, endpoint) = h.open_legacy();
    let id = endpoint.split("sessionId=").nth(1).expect("a sessionId");
    random_part(id, "node-a.");
    h.check();
}

#[test]
fn a_prefix_at_the_limit_is_used_and_one_past_it_is_not() {
    let at_limit = "a".repeat(MAX_SESSION_ID_PREFIX);
    assert!(valid_session_id_prefix(&at_limit));
    let (id, _) = prefixed(&at_limit).initialize();
    random_part(&id, &at_limit);

    let past = "a".repeat(MAX_SESSION_ID_PREFIX + 1);
    assert!(!valid_session_id_prefix(&past));
    let (id, _) = prefixed(&past).initialize();
    assert_eq!(id.len(), 32, "an invalid prefix is not used: {id}");
}

#[test]
fn a_prefix_with_bytes_unsafe_in_a_header_or_query_is_not_used() {
    for bad in ["a b", "a\r\n", "a;b", "a=b", "a&b", "ä", "a/b"] {
        assert!(!valid_session_id_prefix(bad), "{bad:?}");
        let (id, _) = prefixed(bad).initialize();
        assert_eq!(id.len(), 32, "{bad:?}: {id}");
    }
    for good in ["", "a-", "node_7.", "B"] {
        assert!(valid_session_id_prefix(good), "{good:?}");
    }
}
