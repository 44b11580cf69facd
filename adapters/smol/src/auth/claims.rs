//! The claims a token carries (RFC 9068 for a JWT, RFC 7662 for an introspection answer) and
//! the checks both verifiers make on them: issuer, audience, lifetime, then who and what.
//!
//! Pure: the time is an argument, so every check is tested at its edge.

use std::time::Duration;

use serde::Deserialize;

use super::Grant;

/// The grant ends this much before the token does, so that the time the verdict takes to reach
/// the engine never stretches the grant past the token's expiry.
const EXPIRY_MARGIN: f64 = 1.0;

/// The largest clock skew a verifier tolerates, whatever it is configured with: a token expired
/// five minutes ago is expired.
pub(crate) const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The claims both verifiers read. A claim of the wrong type makes the token malformed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Claims {
    #[serde(default)]
    pub(crate) iss: Option<String>,
    #[serde(default)]
    pub(crate) sub: Option<String>,
    #[serde(default)]
    pub(crate) client_id: Option<String>,
    #[serde(default)]
    pub(crate) aud: Option<OneOrMany>,
    #[serde(default)]
    pub(crate) exp: Option<f64>,
    #[serde(default)]
    pub(crate) nbf: Option<f64>,
    #[serde(default)]
    pub(crate) iat: Option<f64>,
    /// RFC 9068 §2.2.3: space-separated.
    #[serde(default)]
    pub(crate) scope: Option<String>,
    /// What some servers send instead of `scope`: an array (or a space-separated string).
    #[serde(default)]
    pub(crate) scp: Option<OneOrMany>,
}

/// A string, or an array of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn contains(&self, value: &str) -> bool {
        match self {
            OneOrMany::One(one) => one == value,
            OneOrMany::Many(many) => many.iter().any(|v| v == value),
        }
    }
}

/// What a verifier expects of the claims.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    /// The issuer `iss` must equal, if any is configured.
    pub(crate) issuer: Option<String>,
    /// Whether `iss` must be present (a JWT), or is checked only when present (introspection).
    pub(crate) issuer_required: bool,
    /// This resource: `aud` must contain it.
    pub(crate) audience: String,
    /// Whether `aud` must be present; when not required, an absent `aud` passes.
    pub(crate) audience_required: bool,
    /// Whether `exp` must be present.
    pub(crate) expiry_required: bool,
    /// Tolerated clock difference for `exp`, `nbf` and `iat`.
    pub(crate) skew: Duration,
}

/// Checks `claims` at `now` (seconds since the Unix epoch): the grant, or why the token is
/// refused (a short reason the client sees).
pub(crate) fn check(claims: Claims, now: f64, expected: &Expected) -> Result<Grant, &'static str> {
    let skew = expected.skew.min(MAX_CLOCK_SKEW).as_secs_f64();
    match (&claims.iss, &expected.issuer) {
        (Some(iss), Some(issuer)) if iss != issuer => return Err("wrong issuer"),
        (None, Some(_)) if expected.issuer_required => return Err("no issuer"),
        _ => {}
    }
    match &claims.aud {
        Some(aud) if !aud.contains(&expected.audience) => {
            return Err("not issued for this resource");
        }
        None if expected.audience_required => return Err("no audience"),
        _ => {}
    }
    for date in [claims.exp, claims.nbf, claims.iat].into_iter().flatten() {
        if !date.is_finite() || date < 0.0 {
            return Err("malformed date");
        }
    }
    let valid_for = match claims.exp {
        Some(exp) if now >= exp + skew => return Err("expired"),
        // Within the skew past `exp`, a token is taken for the moment it is used, never kept.
        Some(exp) if exp - now - EXPIRY_MARGIN <= 0.0 => {
            Some(Duration::from_secs_f64((exp + skew - now).min(1.0)))
        }
        Some(exp) => Some(Duration::from_secs_f64(
            (exp - now - EXPIRY_MARGIN).min(f64::from(u32::MAX)),
        )),
        None if expected.expiry_required => return Err("no expiry"),
        None => None,
    };
    if claims.nbf.is_some_and(|nbf| nbf > now + skew) {
        return Err("not yet valid");
    }
    if claims.iat.is_some_and(|iat| iat > now + skew) {
        return Err("issued in the future");
    }
    let principal = match (claims.sub, claims.client_id) {
        (Some(sub), _) if !sub.is_empty() => sub,
        // An empty subject is a malformed one, not an absent one: no client stands in for it.
        (Some(_), _) => return Err("no subject"),
        // Client credentials without `sub`: the client is the principal.
        (None, Some(client)) if !client.is_empty() => client,
        _ => return Err("no subject"),
    };
    let mut scopes: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !s.is_empty() && !scopes.iter().any(|have| have == s) {
            scopes.push(s.to_string());
        }
    };
    if let Some(scope) = &claims.scope {
        scope.split(' ').for_each(&mut add);
    }
    match &claims.scp {
        Some(OneOrMany::One(scp)) => scp.split(' ').for_each(&mut add),
        Some(OneOrMany::Many(scp)) => scp.iter().for_each(|s| add(s)),
        None => {}
    }
    let grant = Grant::new(principal, scopes, valid_for.map(to_core));
    Ok(grant)
}

/// A std duration as the core's, to the millisecond.
fn to_core(d: Duration) -> mcpwire_core::time::Duration {
    mcpwire_core::time::Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: f64 = 1_000_000.0;

    fn jwt() -> Expected {
        Expected {
            issuer: Some("https://as.example".into()),
            issuer_required: true,
            audience: "https://mcp.example/mcp".into(),
            audience_required: true,
            expiry_required: true,
            skew: Duration::from_secs(60),
        }
    }

    fn claims(value: serde_json::Value) -> Claims {
        serde_json::from_value(value).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({
            "iss": "https://as.example",
            "aud": "https://mcp.example/mcp",
            "sub": "ada",
            "exp": NOW + 300.0,
            "iat": NOW,
            "scope": "mcp:tools mcp:read",
        })
    }

    fn with(field: &str, value: serde_json::Value) -> Claims {
        let mut v = good();
        v[field] = value;
        claims(v)
    }

    fn without(field: &str) -> Claims {
        let mut v = good();
        v.as_object_mut().unwrap().remove(field);
        claims(v)
    }

    #[test]
    fn a_good_token_is_granted_until_it_expires() {
        let grant = check(claims(good()), NOW, &jwt()).unwrap();
        assert_eq!(grant.principal, "ada");
        assert_eq!(grant.scopes, ["mcp:tools", "mcp:read"]);
        let valid = grant.valid_for.unwrap();
        assert_eq!(
            valid.as_millis(),
            299_000,
            "less the margin, never past exp"
        );
    }

    #[test]
    fn expiry_is_required_and_checked_with_the_skew() {
        assert_eq!(check(without("exp"), NOW, &jwt()).unwrap_err(), "no expiry");
        // Within the skew: granted for the moment it is used (a second at most), so that the
        // engine lets it through without keeping it.
        let late = check(with("exp", json!(NOW - 59.0)), NOW, &jwt()).unwrap();
        assert_eq!(late.valid_for.unwrap().as_millis(), 1000);
        let last = check(with("exp", json!(NOW - 59.75)), NOW, &jwt()).unwrap();
        assert_eq!(last.valid_for.unwrap().as_millis(), 250);
        assert_eq!(
            check(with("exp", json!(NOW - 60.0)), NOW, &jwt()).unwrap_err(),
            "expired",
            "at the skew"
        );
        let mut no_skew = jwt();
        no_skew.skew = Duration::ZERO;
        assert_eq!(
            check(with("exp", json!(NOW)), NOW, &no_skew).unwrap_err(),
            "expired"
        );
        // A skew past the cap is the cap.
        let mut huge = jwt();
        huge.skew = Duration::from_secs(86_400);
        assert_eq!(
            check(with("exp", json!(NOW - 300.0)), NOW, &huge).unwrap_err(),
            "expired"
        );
        assert!(check(with("exp", json!(NOW - 299.0)), NOW, &huge).is_ok());
    }

    #[test]
    fn not_before_and_issued_at_in_the_future_are_refused_past_the_skew() {
        assert!(check(with("nbf", json!(NOW + 60.0)), NOW, &jwt()).is_ok());
        assert_eq!(
            check(with("nbf", json!(NOW + 61.0)), NOW, &jwt()).unwrap_err(),
            "not yet valid"
        );
        assert!(check(with("iat", json!(NOW + 60.0)), NOW, &jwt()).is_ok());
        assert_eq!(
            check(with("iat", json!(NOW + 61.0)), NOW, &jwt()).unwrap_err(),
            "issued in the future"
        );
        assert_eq!(
            check(with("iat", json!(-1)), NOW, &jwt()).unwrap_err(),
            "malformed date"
        );
    }

    #[test]
    fn issuer_and_audience_must_match_exactly() {
        for wrong in [
            "https://as.example/",
            "https://evil.example",
            "HTTPS://as.example",
        ] {
            assert_eq!(
                check(with("iss", json!(wrong)), NOW, &jwt()).unwrap_err(),
                "wrong issuer"
            );
        }
        assert_eq!(check(without("iss"), NOW, &jwt()).unwrap_err(), "no issuer");
        for wrong in [
            json!("https://mcp.example/mcp/"),
            json!("https://other.example/mcp"),
            json!(["https://other.example", "api"]),
            json!([]),
        ] {
            assert_eq!(
                check(with("aud", wrong), NOW, &jwt()).unwrap_err(),
                "not issued for this resource"
            );
        }
        let many = json!(["https://other.example", "https://mcp.example/mcp"]);
        assert!(check(with("aud", many), NOW, &jwt()).is_ok());
        assert_eq!(
            check(without("aud"), NOW, &jwt()).unwrap_err(),
            "no audience"
        );
        let mut lenient = jwt();
        lenient.audience_required = false;
        assert!(check(without("aud"), NOW, &lenient).is_ok());
        assert!(
            check(with("aud", json!("https://other.example")), NOW, &lenient).is_err(),
            "a present audience is always checked"
        );
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let scopes = |v: serde_json::Value| {
            let mut c = good();
            c.as_object_mut().unwrap().remove("scope");
            for (k, val) in v.as_object().unwrap() {
                c[k] = val.clone();
            }
            check(claims(c), NOW, &jwt()).unwrap().scopes
        };
        assert_eq!(scopes(json!({"scope": "a  b a"})), ["a", "b"]);
        assert_eq!(scopes(json!({"scp": ["a", "b"]})), ["a", "b"]);
        assert_eq!(scopes(json!({"scp": "a b"})), ["a", "b"]);
        assert_eq!(scopes(json!({"scope": "a", "scp": ["b", "a"]})), ["a", "b"]);
        assert!(scopes(json!({})).is_empty());
    }

    #[test]
    fn the_principal_is_the_subject_or_else_the_client() {
        let mut c = good();
        c.as_object_mut().unwrap().remove("sub");
        c["client_id"] = json!("robot");
        assert_eq!(
            check(claims(c.clone()), NOW, &jwt()).unwrap().principal,
            "robot"
        );
        c["sub"] = json!("ada");
        assert_eq!(
            check(claims(c.clone()), NOW, &jwt()).unwrap().principal,
            "ada"
        );
        c.as_object_mut().unwrap().remove("sub");
        c.as_object_mut().unwrap().remove("client_id");
        assert_eq!(check(claims(c), NOW, &jwt()).unwrap_err(), "no subject");
    }

    #[test]
    fn claims_of_the_wrong_type_do_not_parse() {
        let mut c = good();
        c["exp"] = json!("tomorrow");
        assert!(serde_json::from_value::<Claims>(c).is_err());
        let mut c = good();
        c["aud"] = json!(7);
        assert!(serde_json::from_value::<Claims>(c).is_err());
    }
}
