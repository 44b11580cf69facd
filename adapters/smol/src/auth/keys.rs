//! A JSON Web Key Set (RFC 7517), as the JWT verifier uses it: the signing keys it can use,
//! each with the algorithms it may verify.
//!
//! A key is left out, not the set refused, when it is not for signatures (`use` other than
//! `sig`, `key_ops` without `verify`), is symmetric (`oct`: never HMAC with a published key),
//! is of a curve or type not supported, names an algorithm that does not fit it, or is an RSA
//! key under 2048 bits. One odd key in an authorization server's set does not stop the rest.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Keys kept from one set at most: the document is capped in bytes too.
pub(crate) const MAX_KEYS: usize = 64;

/// RSA keys shorter than this (in bytes of modulus) are not used.
const MIN_RSA_MODULUS: usize = 256;

/// One usable key.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    /// The algorithms it may verify: the one its `alg` names, or every one of its type.
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
}

/// The usable keys of a set.
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

/// What a token's `kid` and `alg` find in a set.
pub(crate) enum Lookup<'a> {
    Found(&'a DecodingKey),
    /// No key has this `kid` (or, without one, no key fits the algorithm).
    Unknown,
    /// Refused whatever the set holds: why.
    Refused(&'static str),
}

impl KeySet {
    /// The usable keys of the JWKS document `body`, or why it is not one.
    pub(crate) fn parse(body: &[u8]) -> Result<KeySet, String> {
        let document: Value =
            serde_json::from_slice(body).map_err(|e| format!("the key set is not JSON: {e}"))?;
        let Some(keys) = document.get("keys").and_then(Value::as_array) else {
            return Err("the key set has no \"keys\" array".into());
        };
        let keys: Vec<Key> = keys.iter().filter_map(key).take(MAX_KEYS).collect();
        if keys.is_empty() {
            return Err("the key set holds no usable signing key".into());
        }
        Ok(KeySet { keys })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key a token with `kid` signed with `alg` names.
    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Lookup::Unknown;
                }
                // The same kid may stand for one key per algorithm.
                match named.find(|k| k.algorithms.contains(&alg)) {
                    Some(key) => Lookup::Found(&key.key),
                    None => Lookup::Refused("the algorithm does not match the key"),
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.algorithms.contains(&alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Lookup::Found(&only.key),
                    (None, _) => Lookup::Unknown,
                    // Trying each would let one forged token cost a signature check per key.
                    (Some(_), Some(_)) => Lookup::Refused("the token names no key (kid)"),
                }
            }
        }
    }
}

/// One JWK, if it is usable.
fn key(jwk: &Value) -> Option<Key> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"));
        if !verify {
            return None;
        }
    }
    let (family, key): (&[Algorithm], DecodingKey) = match (text("kty")?, text("crv")) {
        ("RSA", _) => {
            let (n, e) = (text("n")?, text("e")?);
            let modulus = modulus_bytes(n)?;
            if modulus < MIN_RSA_MODULUS {
                return None;
            }
            let rsa = &[
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ];
            (rsa, DecodingKey::from_rsa_components(n, e).ok()?)
        }
        ("EC", Some("P-256")) => (
            &[Algorithm::ES256],
            DecodingKey::from_ec_components(text("x")?, text("y")?).ok()?,
        ),
        ("EC", Some("P-384")) => (
            &[Algorithm::ES384],
            DecodingKey::from_ec_components(text("x")?, text("y")?).ok()?,
        ),
        ("OKP", Some("Ed25519")) => (
            &[Algorithm::EdDSA],
            DecodingKey::from_ed_components(text("x")?).ok()?,
        ),
        _ => return None,
    };
    let algorithms = match text("alg") {
        None => family.to_vec(),
        Some(alg) => {
            let alg: Algorithm = alg.parse().ok()?;
            if !family.contains(&alg) {
                return None;
            }
            vec![alg]
        }
    };
    Some(Key {
        kid: text("kid").map(str::to_string),
        algorithms,
        key,
    })
}

/// The length in bytes of the RSA modulus `n` (unpadded base64url), if it is a modulus as RFC
/// 7518 §6.3.1.1 writes one: no leading zero byte, which would otherwise let a short key pass
/// for a long one.
fn modulus_bytes(n: &str) -> Option<usize> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .ok()?;
    match bytes.first() {
        Some(0) | None => None,
        Some(_) => Some(bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::jwt::tests::{ec_jwk, rsa_jwk};
    use super::*;

    #[test]
    fn a_modulus_is_measured_by_its_value_not_its_text() {
        use base64::Engine as _;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut long = vec![0xc5u8; 256];
        assert_eq!(modulus_bytes(&encode(&long)), Some(256));
        // A 64-byte modulus behind 200 zero bytes is still a 64-byte modulus: refused.
        long = [vec![0u8; 200], vec![0xc5u8; 64]].concat();
        assert_eq!(modulus_bytes(&encode(&long)), None);
        assert_eq!(modulus_bytes("not base64!"), None);
    }
    use serde_json::json;

    fn set(keys: Vec<Value>) -> Result<KeySet, String> {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn keys_not_for_signatures_or_not_fitting_their_algorithm_are_left_out() {
        let mut enc = rsa_jwk("enc");
        enc["use"] = json!("enc");
        let mut wrong_alg = ec_jwk("wrong");
        wrong_alg["alg"] = json!("RS256");
        let mut no_verify = ec_jwk("ops");
        no_verify["key_ops"] = json!(["sign"]);
        let hmac = json!({"kty": "oct", "kid": "oct", "k": "c2VjcmV0"});
        let mut p521 = ec_jwk("p521");
        p521["crv"] = json!("P-521");
        let mut short = rsa_jwk("short");
        short["n"] = json!("AQAB".repeat(8));
        assert!(set(vec![enc, wrong_alg, no_verify, hmac, p521, short]).is_err());
        let keys = set(vec![rsa_jwk("r"), ec_jwk("e"), json!({"kty": 7})]).unwrap();
        assert_eq!(keys.len(), 2, "the odd one out is skipped, the rest used");
        assert!(KeySet::parse(b"{}").is_err());
        assert!(KeySet::parse(b"<html>").is_err());
    }

    #[test]
    fn a_kid_finds_its_key_only_for_its_algorithms() {
        let mut rs = rsa_jwk("r");
        rs["alg"] = json!("RS256");
        let keys = set(vec![rs, ec_jwk("e")]).unwrap();
        assert!(matches!(
            keys.lookup(Some("r"), Algorithm::RS256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            keys.lookup(Some("r"), Algorithm::PS256),
            Lookup::Refused(_)
        ));
        assert!(matches!(
            keys.lookup(Some("e"), Algorithm::ES256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            keys.lookup(Some("e"), Algorithm::ES384),
            Lookup::Refused(_)
        ));
        assert!(matches!(
            keys.lookup(Some("x"), Algorithm::ES256),
            Lookup::Unknown
        ));
        // Without a kid: the one key that fits, else nothing.
        assert!(matches!(
            keys.lookup(None, Algorithm::ES256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            keys.lookup(None, Algorithm::EdDSA),
            Lookup::Unknown
        ));
        let two = set(vec![ec_jwk("a"), ec_jwk("b")]).unwrap();
        assert!(matches!(
            two.lookup(None, Algorithm::ES256),
            Lookup::Refused(_)
        ));
    }

    #[test]
    fn a_set_keeps_at_most_its_cap() {
        let many: Vec<Value> = (0..MAX_KEYS + 1).map(|i| ec_jwk(&i.to_string())).collect();
        assert_eq!(set(many[..MAX_KEYS].to_vec()).unwrap().len(), MAX_KEYS);
        assert_eq!(set(many).unwrap().len(), MAX_KEYS);
    }
}
