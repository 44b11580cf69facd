//! The JWT verifier against keys made here and a key set served on 127.0.0.1.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::super::testing::Responder;
use super::*;

const ISSUER_PATH: &str = "/as";
const RESOURCE: &str = "https://mcp.example/mcp";

/// A signing key and its public JWK (without a kid).
struct TestKey {
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

fn rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        let public = private.to_public_key();
        TestKey {
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk: json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }),
        }
    })
}

fn ec() -> TestKey {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let der = secret.to_pkcs8_der().unwrap();
    let point = secret.public_key().to_encoded_point(false);
    TestKey {
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        jwk: json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        }),
    }
}

fn ed() -> TestKey {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let der = signing.to_pkcs8_der().unwrap();
    TestKey {
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        jwk: json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes()),
        }),
    }
}

impl TestKey {
    fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        self.sign_as(self.alg, kid, Some("at+jwt"), claims)
    }

    fn sign_as(&self, alg: Algorithm, kid: &str, typ: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        header.typ = typ.map(Into::into);
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// An RSA JWK (for the key set parser's tests).
pub(crate) fn rsa_jwk(kid: &str) -> Value {
    rsa().jwk(kid)
}

/// A fresh P-256 JWK.
pub(crate) fn ec_jwk(kid: &str) -> Value {
    ec().jwk(kid)
}

fn now() -> u64 {
    unix_now() as u64
}

fn claims(issuer: &str) -> Value {
    json!({
        "iss": issuer,
        "aud": RESOURCE,
        "sub": "ada",
        "client_id": "inspector",
        "exp": now() + 300,
        "iat": now(),
        "scope": "mcp:tools mcp:read",
    })
}

/// A token with this header and no valid signature: enough for what is refused before the
/// signature is checked.
fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"not a signature")
    )
}

/// An issuer on `responder` publishing `keys`, found through RFC 8414 discovery.
fn publish(responder: &Responder, keys: &[Value]) -> String {
    let issuer = format!("{}{ISSUER_PATH}", responder.base());
    responder.serve_json(
        &format!("/.well-known/oauth-authorization-server{ISSUER_PATH}"),
        &json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}),
    );
    responder.serve_json(&format!("{ISSUER_PATH}/jwks"), &json!({ "keys": keys }));
    issuer
}

fn jwks_path() -> String {
    format!("{ISSUER_PATH}/jwks")
}

fn verifier(issuer: &str) -> JwtVerifier {
    JwtVerifier::builder(issuer, RESOURCE).build().unwrap()
}

fn refused(verdict: Verdict) -> String {
    match verdict {
        Verdict::Refused(why) => why,
        other => panic!("refused, not {other:?}"),
    }
}

fn granted(verdict: Verdict) -> super::super::Grant {
    match verdict {
        Verdict::Granted(grant) => grant,
        other => panic!("granted, not {other:?}"),
    }
}

/// As if the refetch interval (and any backoff) had passed since the last attempt.
fn past_the_refetch_interval(v: &JwtVerifier) {
    v.cache().age_last_attempt();
}

#[test]
fn tokens_signed_by_published_keys_are_granted() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let (es, eddsa) = (ec(), ed());
        let issuer = publish(
            &responder,
            &[rsa().jwk("rsa"), es.jwk("ec"), eddsa.jwk("ed")],
        );
        let v = verifier(&issuer);
        for (key, kid) in [(rsa(), "rsa"), (&es, "ec"), (&eddsa, "ed")] {
            let grant = granted(v.check(&key.sign(kid, &claims(&issuer))).await);
            assert_eq!(grant.principal, "ada");
            assert_eq!(grant.scopes, ["mcp:tools", "mcp:read"]);
            let valid = grant.valid_for.unwrap().as_millis();
            assert!(
                valid > 0 && valid <= 300_000,
                "ends with the token: {valid}"
            );
        }
        let ps = rsa().sign_as(Algorithm::PS256, "rsa", Some("at+jwt"), &claims(&issuer));
        granted(v.check(&ps).await);
        assert_eq!(
            (v.stats().fetches, v.stats().discoveries, v.stats().keys),
            (1, 1, 3),
            "one discovery, one fetch, for every token"
        );
    });
}

/// A change to a token's claims.
type Edit = dyn Fn(&mut Value);

#[test]
fn claims_are_checked() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let es = ec();
        let issuer = publish(&responder, &[es.jwk("k")]);
        let v = verifier(&issuer);
        let check = |edit: &Edit| {
            let mut c = claims(&issuer);
            edit(&mut c);
            es.sign("k", &c)
        };
        let cases: [(&str, &Edit); 8] = [
            ("expired", &|c| c["exp"] = json!(now() - 120)),
            ("not yet valid", &|c| c["nbf"] = json!(now() + 600)),
            ("issued in the future", &|c| c["iat"] = json!(now() + 600)),
            ("wrong issuer", &|c| {
                c["iss"] = json!("https://evil.example")
            }),
            ("not issued for this resource", &|c| {
                c["aud"] = json!("https://other.example/mcp");
            }),
            ("no audience", &|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            ("no expiry", &|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            ("no subject", &|c| {
                c.as_object_mut().unwrap().remove("sub");
                c.as_object_mut().unwrap().remove("client_id");
            }),
        ];
        for (reason, edit) in cases {
            assert_eq!(refused(v.check(&check(edit)).await), reason);
        }
        // Client credentials: no subject, the client is the principal.
        let robot = check(&|c| {
            c.as_object_mut().unwrap().remove("sub");
        });
        assert_eq!(granted(v.check(&robot).await).principal, "inspector");
        let scp = check(&|c| {
            c.as_object_mut().unwrap().remove("scope");
            c["scp"] = json!(["a", "b"]);
        });
        assert_eq!(granted(v.check(&scp).await).scopes, ["a", "b"]);
        // A signature that does not match its content.
        let token = es.sign("k", &claims(&issuer));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged =
            URL_SAFE_NO_PAD.encode(claims(&issuer).to_string().replace("\"ada\"", "\"root\""));
        parts[1] = &forged;
        assert_eq!(refused(v.check(&parts.join(".")).await), "bad signature");
        assert_eq!(refused(v.check("not.a.jwt").await), "malformed token");
        assert_eq!(
            refused(v.check(&"a".repeat(16 * 1024 + 1)).await),
            "token too large"
        );
    });
}

#[test]
fn none_and_hmac_with_the_public_key_are_refused() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let mut published = rsa().jwk("rsa");
        // Even a key that says it is for HS256 (an attacker's wish) is never used for it.
        published["alg"] = json!("RS256");
        let issuer = publish(&responder, &[published.clone()]);
        let v = verifier(&issuer);
        let c = claims(&issuer);
        let none = unsigned(&json!({"alg": "none", "typ": "at+jwt", "kid": "rsa"}), &c);
        let none = none.rsplit_once('.').unwrap().0.to_string() + ".";
        assert_eq!(refused(v.check(&none).await), "malformed token");
        // HS256 "signed" with the public key, as PEM-less bytes of the modulus and as JSON.
        let n = URL_SAFE_NO_PAD
            .decode(published["n"].as_str().unwrap())
            .unwrap();
        for secret in [n, published.to_string().into_bytes()] {
            let hs = jsonwebtoken::encode(
                &{
                    let mut h = Header::new(Algorithm::HS256);
                    h.kid = Some("rsa".into());
                    h
                },
                &c,
                &EncodingKey::from_secret(&secret),
            )
            .unwrap();
            assert_eq!(refused(v.check(&hs).await), "algorithm not allowed");
        }
        // Neither can be allowed by configuration.
        for alg in ["HS256", "HS512", "none", "ES512", "RS1"] {
            let error = JwtVerifier::builder(&issuer, RESOURCE)
                .algorithms([alg])
                .build()
                .unwrap_err();
            assert!(error.to_string().contains("not allowed"), "{error}");
        }
        // An allow-list narrower than the key: RS256 refused when only ES256 is allowed.
        let narrow = JwtVerifier::builder(&issuer, RESOURCE)
            .algorithms(["ES256"])
            .build()
            .unwrap();
        let rs = rsa().sign("rsa", &c);
        assert_eq!(refused(narrow.check(&rs).await), "algorithm not allowed");
        // A key pinned to RS256 does not verify PS256.
        let ps = rsa().sign_as(Algorithm::PS256, "rsa", None, &c);
        assert_eq!(
            refused(v.check(&ps).await),
            "the algorithm does not match the key"
        );
    });
}

#[test]
fn access_token_types_are_accepted_and_others_refused() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let es = ec();
        let issuer = publish(&responder, &[es.jwk("k")]);
        let v = verifier(&issuer);
        let c = claims(&issuer);
        for typ in [
            Some("at+jwt"),
            Some("application/at+jwt"),
            Some("JWT"),
            None,
        ] {
            granted(v.check(&es.sign_as(Algorithm::ES256, "k", typ, &c)).await);
        }
        for typ in ["dpop+jwt", "logout+jwt", "secevent+jwt"] {
            let token = es.sign_as(Algorithm::ES256, "k", Some(typ), &c);
            assert_eq!(refused(v.check(&token).await), "not an access token (typ)");
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k".into());
        header.crit = Some(vec!["exp".into()]);
        let crit = jsonwebtoken::encode(&header, &c, &es.encoding).unwrap();
        assert_eq!(refused(v.check(&crit).await), "unsupported critical header");
    });
}

#[test]
fn keys_not_for_signing_are_not_used() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let es = ec();
        let mut encryption = es.jwk("enc");
        encryption["use"] = json!("enc");
        let other = ec();
        let issuer = publish(&responder, &[encryption, other.jwk("other")]);
        let v = verifier(&issuer);
        let token = es.sign("enc", &claims(&issuer));
        assert_eq!(refused(v.check(&token).await), "unknown signing key");
    });
}

#[test]
fn a_flood_of_random_kids_costs_a_bounded_number_of_fetches() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let es = ec();
        let issuer = publish(&responder, &[es.jwk("k")]);
        let v = verifier(&issuer);
        granted(v.check(&es.sign("k", &claims(&issuer))).await);
        let c = claims(&issuer);
        let mut refusals = 0;
        for i in 0..10_000u32 {
            let kid = format!("{:08x}", i.wrapping_mul(2_654_435_761));
            let token = unsigned(&json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}), &c);
            if let Verdict::Refused(_) = v.check(&token).await {
                refusals += 1;
            }
        }
        assert_eq!(refusals, 10_000);
        // One fetch at start; the flood adds at most one per refetch interval (60 s) it lasts.
        let stats = v.stats();
        assert!(stats.fetches <= 2, "{stats:?}");
        assert_eq!(stats.fetches as usize, responder.hits(&jwks_path()));
        // Concurrent verifications of one new kid share one fetch.
        past_the_refetch_interval(&v);
        let before = v.stats().fetches;
        let token = unsigned(&json!({"alg": "ES256", "kid": "new"}), &c);
        let checks: Vec<_> = (0..50)
            .map(|_| {
                let v = v.clone();
                let token = token.clone();
                smol::spawn(async move { v.check(&token).await })
            })
            .collect();
        for check in checks {
            assert_eq!(refused(check.await), "unknown signing key");
        }
        assert_eq!(v.stats().fetches, before + 1, "one fetch for all fifty");
    });
}

#[test]
fn a_rotated_key_is_picked_up_once_the_refetch_interval_has_passed() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let (old, new) = (ec(), ec());
        let issuer = publish(&responder, &[old.jwk("old")]);
        let v = verifier(&issuer);
        granted(v.check(&old.sign("old", &claims(&issuer))).await);
        publish(&responder, &[old.jwk("old"), new.jwk("new")]);
        let token = new.sign("new", &claims(&issuer));
        // Just fetched: the unknown kid causes no fetch yet.
        assert_eq!(refused(v.check(&token).await), "unknown signing key");
        assert_eq!(v.stats().fetches, 1);
        past_the_refetch_interval(&v);
        granted(v.check(&token).await);
        assert_eq!(v.stats().fetches, 2);
        granted(v.check(&old.sign("old", &claims(&issuer))).await);
        assert_eq!(v.stats().fetches, 2, "known kids cause no fetch");
    });
}

#[test]
fn cached_keys_keep_serving_while_the_server_is_down() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let es = ec();
        let issuer = publish(&responder, &[es.jwk("k")]);
        let v = verifier(&issuer);
        granted(v.check(&es.sign("k", &claims(&issuer))).await);
        responder.down(true);
        past_the_refetch_interval(&v);
        let unknown = ec().sign("gone", &claims(&issuer));
        assert_eq!(v.check(&unknown).await, Verdict::Unavailable);
        let stats = v.stats();
        // The task retries on its own after a backoff, so these are at least, not exactly.
        assert!(stats.fetches >= 2 && stats.failures >= 1, "{stats:?}");
        assert_eq!(stats.keys, 1, "the cached key is kept");
        granted(v.check(&es.sign("k", &claims(&issuer))).await);
        assert_eq!(v.check(&unknown).await, Verdict::Unavailable);
    });
}

#[test]
fn no_key_set_at_all_is_unavailable() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let issuer = format!("{}{ISSUER_PATH}", responder.base());
        let v = verifier(&issuer);
        let token = ec().sign("k", &claims(&issuer));
        assert_eq!(v.check(&token).await, Verdict::Unavailable, "no metadata");
        assert_eq!(v.stats().discoveries, 1);
        assert_eq!(v.stats().fetches, 0);
        // Metadata whose issuer is another's is not used.
        responder.serve_json(
            &format!("/.well-known/oauth-authorization-server{ISSUER_PATH}"),
            &json!({"issuer": "https://evil.example", "jwks_uri": format!("{issuer}/jwks")}),
        );
        past_the_refetch_interval(&v);
        assert_eq!(v.check(&token).await, Verdict::Unavailable);
        assert_eq!(
            v.stats().fetches,
            0,
            "no key set fetched from an unverified issuer"
        );
    });
}

#[test]
fn a_stalled_key_set_meets_the_fetch_deadline() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let issuer = format!("{}{ISSUER_PATH}", responder.base());
        responder.stall(&jwks_path());
        let v = JwtVerifier::builder(&issuer, RESOURCE)
            .jwks_uri(&format!("{issuer}/jwks"))
            .fetch_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let token = ec().sign("k", &claims(&issuer));
        assert_eq!(v.check(&token).await, Verdict::Unavailable);
        let stats = v.stats();
        assert!(stats.fetches >= 1 && stats.failures >= 1, "{stats:?}");
        assert_eq!(
            stats.discoveries, 0,
            "a configured jwks_uri needs no discovery"
        );
    });
}

#[test]
fn a_key_set_is_read_up_to_its_cap() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let es = ec();
        let issuer = format!("{}{ISSUER_PATH}", responder.base());
        let document = |size: usize| {
            let mut body = json!({"keys": [es.jwk("k")]}).to_string();
            body.insert_str(1, &" ".repeat(size - body.len()));
            body
        };
        let cap = super::super::jwks::MAX_JWKS_BYTES;
        for (size, fits) in [(cap, true), (cap + 1, false)] {
            let path = format!("/jwks-{size}");
            responder.serve(&path, 200, "application/jwk-set+json", &document(size));
            let v = JwtVerifier::builder(&issuer, RESOURCE)
                .jwks_uri(&format!("{}{path}", responder.base()))
                .build()
                .unwrap();
            let verdict = v.check(&es.sign("k", &claims(&issuer))).await;
            assert_eq!(
                matches!(verdict, Verdict::Granted(_)),
                fits,
                "{size}: {verdict:?}"
            );
        }
    });
}

#[test]
fn plain_http_is_for_loopback_only() {
    for (issuer, jwks) in [
        ("http://as.example", None),
        ("https://as.example", Some("http://as.example/jwks")),
        ("https://as.example", Some("http://192.168.1.1/jwks")),
    ] {
        let mut builder = JwtVerifier::builder(issuer, RESOURCE);
        if let Some(jwks) = jwks {
            builder = builder.jwks_uri(jwks);
        }
        let error = builder.build().unwrap_err();
        assert!(error.to_string().contains("loopback"), "{error}");
    }
    assert!(
        JwtVerifier::builder("http://127.0.0.1:9", "http://localhost:3000/mcp")
            .build()
            .is_ok()
    );
    assert!(
        JwtVerifier::builder("https://as.example", "mcp")
            .build()
            .is_err()
    );
}

#[test]
fn a_discovered_plain_http_key_set_elsewhere_is_not_fetched() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let issuer = format!("{}{ISSUER_PATH}", responder.base());
        responder.serve_json(
            &format!("/.well-known/oauth-authorization-server{ISSUER_PATH}"),
            &json!({"issuer": issuer, "jwks_uri": "http://as.example/jwks"}),
        );
        let v = verifier(&issuer);
        let token = ec().sign("k", &claims(&issuer));
        assert_eq!(v.check(&token).await, Verdict::Unavailable);
        let stats = v.stats();
        assert!(stats.fetches == 0 && stats.failures >= 1, "{stats:?}");
    });
}

#[test]
fn the_cache_task_ends_with_the_verifier() {
    smol::block_on(async {
        let responder = Responder::start().await;
        let es = ec();
        let issuer = publish(&responder, &[es.jwk("k")]);
        // Stalled, so that the task is mid-fetch when the verifier goes.
        responder.stall(&jwks_path());
        let v = verifier(&issuer);
        assert_eq!(
            v.stats().tasks,
            0,
            "nothing runs before the first verification"
        );
        let counters = v.cache().counters();
        assert_eq!(v.stats().tasks, 1);
        let clone = v.clone();
        drop(v);
        assert_eq!(clone.stats().tasks, 1, "a clone keeps it");
        drop(clone);
        for _ in 0..500 {
            if super::super::jwks::stats(&counters, 0).tasks == 0 {
                return;
            }
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
        panic!("the cache task outlived its verifier");
    });
}

#[test]
fn the_cache_task_ends_with_its_server() {
    smol::block_on(async {
        // Nothing listens on port 1: every attempt fails, and the task retries until it goes.
        let v = JwtVerifier::builder("http://127.0.0.1:1", "http://127.0.0.1/mcp")
            .build()
            .unwrap();
        let counters = v.cache().counters();
        assert_eq!(v.stats().tasks, 1);
        let resource = crate::auth::ResourceServer::new("http://127.0.0.1/mcp")
            .unwrap()
            .authorization_server("http://127.0.0.1:1")
            .unwrap();
        let server = crate::Server::new(crate::App::builder("t", "1").build())
            .handle_signals(false)
            .threads(1)
            .protect(resource, v);
        let handle = server.handle();
        let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let serving = smol::spawn(server.serve(listener));
        handle.shutdown(std::time::Duration::ZERO).await.unwrap();
        serving.await.unwrap();
        for _ in 0..500 {
            if super::super::jwks::stats(&counters, 0).tasks == 0 {
                return;
            }
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
        panic!("the cache task outlived its server");
    });
}
