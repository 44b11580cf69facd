//! Input-required results (2026-07-28 MRTR): the state a server hands its client between
//! rounds, sealed so that the server keeps nothing for a flow the client abandons, and the
//! client can neither read, forge nor alter it.
//!
//! A sealed state is `base64url(version || nonce || ChaCha20-Poly1305(expiry || state))`, with
//! the request's method, name and a digest of its arguments as associated data: a state
//! issued for one tool, or for other arguments, cannot be replayed against another. The key is the engine's (`Engine::set_state_key`); engines that
//! share a key accept each other's states, within the expiry, which counts in the clock of
//! the engine that sealed it.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::jsonrpc::RawValue;
use crate::time::Instant;

/// The format's first byte: a later format can be told apart.
const VERSION: u8 = 1;
const NONCE: usize = 12;

/// Why a returned state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not a state this server issued, or altered since, or issued for another request.
    Forged,
    /// Issued here, and expired.
    Expired,
}

/// The key states are sealed with.
#[derive(Clone)]
pub(crate) struct StateKey(Key);

impl core::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

impl StateKey {
    pub(crate) fn new(key: [u8; 32]) -> StateKey {
        StateKey(Key::from(key))
    }

    /// Seals `state` until `expires`, bound to `binding` (the request's method and name).
    pub(crate) fn seal(
        &self,
        nonce: [u8; NONCE],
        expires: Instant,
        binding: &[u8],
        state: &[u8],
    ) -> String {
        let mut plain = Vec::with_capacity(8 + state.len());
        plain.extend_from_slice(&expires.as_millis().to_le_bytes());
        plain.extend_from_slice(state);
        let cipher = ChaCha20Poly1305::new(&self.0);
        // Encryption with a valid key and nonce cannot fail for messages this small.
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: binding,
                },
            )
            .unwrap_or_default();
        let mut token = Vec::with_capacity(1 + NONCE + sealed.len());
        token.push(VERSION);
        token.extend_from_slice(&nonce);
        token.extend_from_slice(&sealed);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    }

    /// The state sealed in `token`, if it is authentic, bound to `binding` and not expired.
    pub(crate) fn open(
        &self,
        token: &str,
        now: Instant,
        binding: &[u8],
    ) -> Result<Vec<u8>, Refused> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| Refused::Forged)?;
        let (&version, rest) = bytes.split_first().ok_or(Refused::Forged)?;
        if version != VERSION || rest.len() < NONCE {
            return Err(Refused::Forged);
        }
        let (nonce, sealed) = rest.split_at(NONCE);
        let cipher = ChaCha20Poly1305::new(&self.0);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: binding,
                },
            )
            .map_err(|_| Refused::Forged)?;
        let (expiry, state) = plain.split_at_checked(8).ok_or(Refused::Forged)?;
        let mut millis = [0u8; 8];
        millis.copy_from_slice(expiry);
        if now > Instant::from_millis(u64::from_le_bytes(millis)) {
            return Err(Refused::Expired);
        }
        Ok(state.to_vec())
    }
}

/// What a state is bound to: the method, the tool, prompt or resource it names, a digest of
/// its arguments (answers given for some arguments never serve a retry with others), and the
/// credential of `Config::session_binding` when there is one (a state issued to one principal
/// does not open for another). Each part is length-prefixed, so no two bindings run together.
pub(crate) fn binding(
    method: &str,
    name: Option<&str>,
    arguments: &ArgumentsDigest,
    principal: Option<&[u8]>,
) -> Vec<u8> {
    let parts: [&[u8]; 4] = [
        method.as_bytes(),
        name.unwrap_or("").as_bytes(),
        &arguments.0,
        principal.unwrap_or(b""),
    ];
    let mut binding = Vec::with_capacity(parts.iter().map(|p| p.len() + 4).sum());
    for part in parts {
        binding.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
        binding.extend_from_slice(part);
    }
    binding
}

/// SHA-256 over what a request asks beyond its method: every member of its params but
/// `_meta`, `inputResponses` and `requestState` (which change from one round to the next), in
/// the order of their names, each value's text as sent. A client retries with the arguments
/// it sent the first time, serialized the same way; params that are not an object are taken
/// whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ArgumentsDigest([u8; 32]);

impl ArgumentsDigest {
    pub(crate) fn of(params: Option<&RawValue>) -> ArgumentsDigest {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        let mut part = |bytes: &[u8]| {
            hash.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes());
            hash.update(bytes);
        };
        let text = params.map_or("", RawValue::get);
        match serde_json::from_str::<BTreeMap<Cow<'_, str>, &RawValue>>(text) {
            Ok(members) => {
                for (name, value) in members.iter().filter(|(name, _)| {
                    !matches!(&***name, "_meta" | "inputResponses" | "requestState")
                }) {
                    part(name.as_bytes());
                    part(value.get().as_bytes());
                }
            }
            Err(_) => part(text.as_bytes()),
        }
        ArgumentsDigest(hash.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StateKey {
        StateKey::new([9; 32])
    }

    #[test]
    fn a_sealed_state_opens_until_it_expires() {
        let b = binding("tools/call", Some("t"), &ArgumentsDigest::of(None), None);
        let token = key().seal([1; 12], Instant::from_millis(1000), &b, b"answers");
        assert_eq!(
            key().open(&token, Instant::from_millis(1000), &b).unwrap(),
            b"answers"
        );
        assert_eq!(
            key().open(&token, Instant::from_millis(1001), &b),
            Err(Refused::Expired)
        );
    }

    #[test]
    fn altered_foreign_or_rebound_states_are_forged() {
        let b = binding("tools/call", Some("t"), &ArgumentsDigest::of(None), None);
        let token = key().seal([1; 12], Instant::from_millis(1000), &b, b"{}");
        let now = Instant::ZERO;
        let mut tampered = token.clone();
        tampered.push_str("-TAMPERED");
        assert_eq!(key().open(&tampered, now, &b), Err(Refused::Forged));
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(key().open(&flipped, now, &b), Err(Refused::Forged));
        assert_eq!(
            StateKey::new([8; 32]).open(&token, now, &b),
            Err(Refused::Forged)
        );
        let other = binding("tools/call", Some("u"), &ArgumentsDigest::of(None), None);
        assert_eq!(key().open(&token, now, &other), Err(Refused::Forged));
        let someone_else = binding(
            "tools/call",
            Some("t"),
            &ArgumentsDigest::of(None),
            Some(b"Bearer bob"),
        );
        assert_eq!(key().open(&token, now, &someone_else), Err(Refused::Forged));
        assert_eq!(key().open("", now, &b), Err(Refused::Forged));
        assert_eq!(key().open("AQ", now, &b), Err(Refused::Forged));
    }

    #[test]
    fn states_are_unreadable_to_the_client() {
        let b = binding("tools/call", Some("t"), &ArgumentsDigest::of(None), None);
        let token = key().seal([1; 12], Instant::ZERO, &b, b"secret-answer");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"secret-answer"));
    }
}
