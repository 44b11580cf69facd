//! What an OAuth flow talks to, simulated: the MCP server's origin (its protected resource
//! metadata), an authorization server (its metadata, dynamic registration, the token endpoint
//! with PKCE, refresh and rotation), the person at the browser, and the verdicts the MCP
//! server's application gives on the tokens it issued.
//!
//! While faults are on, every answer may come late, never, as a failed fetch, a 503 or a
//! document that is not JSON; the authorization server restarts (forgetting its registrations,
//! codes and refresh tokens) or goes down; the person is slow, absent, refuses, or comes back
//! with a wrong `state` or issuer. Access tokens live seconds to minutes, so that refreshes and
//! new grants happen mid-run.
//!
//! What the flow sends is checked as a real authorization server would, and some of it more
//! strictly: a token request without the resource, or whose PKCE verifier does not match its
//! challenge, is a failure of the simulation, not an error answer.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcpwire_core::client::auth::{AuthUrl, FetchRequest, query_pairs};
use mcpwire_core::engine::{Grant, Verdict};
use mcpwire_core::time::{Duration, Instant};
use sha2::{Digest, Sha256};

use crate::rng::Rng;

/// The MCP server's origin.
pub(crate) const MCP_ORIGIN: &str = "http://127.0.0.1:3000";
/// Where the person's browser is sent back.
pub(crate) const REDIRECT: &str = "http://127.0.0.1:8976/callback";
/// The principal every token of the person stands for.
pub(crate) const PRINCIPAL: &str = "person";
const AS_ORIGIN: &str = "http://127.0.0.1:4000";
const SCOPES: [&str; 3] = ["mcp", "admin", "offline_access"];

/// How a fetch ends.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Response(u16, Vec<u8>),
    Failed(String),
}

/// What the person does with an authorization URL.
#[derive(Debug, Clone)]
pub(crate) enum Person {
    /// The browser comes back to the redirect URI with this URL.
    Redirect(String),
    /// The person gives up, for this reason.
    Gives(String),
}

/// The MCP server's origin as the flow's fetches find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Up,
    Down,
    Overloaded,
}

struct Code {
    client_id: String,
    challenge: String,
    scope: String,
    expires: Instant,
}

struct Issued {
    expires: Instant,
    scopes: Vec<String>,
}

/// The simulated world around the flow. See the [module docs](self).
pub(crate) struct World {
    rng: Rng,
    /// Faults on: delays, failures, restarts, an unreliable person.
    pub(crate) faulty: bool,
    issuer: String,
    /// Which of the issuer's metadata locations has the document (the others answer 404).
    metadata_at: usize,
    /// The server promises `iss` in the authorization response (RFC 9207).
    iss_parameter: bool,
    resource: String,
    resource_metadata_paths: [String; 2],
    registrations: BTreeMap<String, String>,
    codes: BTreeMap<String, Code>,
    refresh_tokens: BTreeMap<String, (String, String)>,
    /// Access tokens: signed, so they outlive a restart of the server that issued them.
    tokens: BTreeMap<String, Issued>,
    next: u64,
    down_until: Instant,
    /// Restarts of the authorization server, tokens issued, refreshes granted.
    pub(crate) counts: (u64, u64, u64),
}

impl World {
    /// A world for the resource `resource` (the MCP endpoint's URI, or its origin).
    pub(crate) fn new(seed: u64, resource: &str) -> World {
        let mut rng = Rng::new(seed ^ 0x0a17_5e2e_0a17_5e2e);
        let issuer = if rng.chance(50) {
            format!("{AS_ORIGIN}/tenant")
        } else {
            AS_ORIGIN.to_string()
        };
        let locations = if issuer.ends_with("/tenant") { 3 } else { 2 };
        let metadata_at = rng.index(locations);
        let iss_parameter = rng.chance(50);
        let resource_url = AuthUrl::parse(resource).expect("the resource is a URL");
        let path = resource_url.path().trim_end_matches('/');
        let base = "/.well-known/oauth-protected-resource";
        World {
            rng,
            faulty: true,
            issuer,
            metadata_at,
            iss_parameter,
            resource: resource.to_string(),
            resource_metadata_paths: [format!("{base}{path}"), base.to_string()],
            registrations: BTreeMap::new(),
            codes: BTreeMap::new(),
            refresh_tokens: BTreeMap::new(),
            tokens: BTreeMap::new(),
            next: 1,
            down_until: Instant::ZERO,
            counts: (0, 0, 0),
        }
    }

    /// Faults stop: the authorization server is up, answers soon and right, and the person
    /// authorizes.
    pub(crate) fn calm(&mut self) {
        self.faulty = false;
        self.down_until = Instant::ZERO;
    }

    /// The issuer, as the resource metadata names it.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}-{:x}", self.next, self.rng.next_u64())
    }

    /// The authorization server restarts: what it kept in memory is gone.
    pub(crate) fn restart(&mut self, now: Instant) -> String {
        self.counts.0 += 1;
        self.registrations.clear();
        self.codes.clear();
        self.refresh_tokens.clear();
        let ms = self.rng.below(3_000);
        self.down_until = now + Duration::from_millis(ms);
        format!("authorization server restarts, down for {ms} ms")
    }

    /// How `request` is answered, and when (`None`: never). `Err` when the flow sent
    /// something no flow should.
    pub(crate) fn fetch(
        &mut self,
        now: Instant,
        request: &FetchRequest,
        origin: Origin,
    ) -> Result<(Answer, Option<Instant>), String> {
        let mut delay = 0;
        if self.faulty {
            delay = [0, 10, 200, 2_000, 15_000][self.rng.weighted(&[30, 30, 25, 12, 3])];
            match self.rng.below(100) {
                0..=4 => {
                    return Ok((
                        Answer::Failed("connection refused".into()),
                        self.at(now, delay),
                    ));
                }
                5..=9 => return Ok((Answer::Response(503, Vec::new()), self.at(now, delay))),
                10..=12 => {
                    let garbage = br#"{"issuer": "http://127.0.0.1:4000", "#.to_vec();
                    return Ok((Answer::Response(200, garbage), self.at(now, delay)));
                }
                13..=15 => return Ok((Answer::Failed("never answered".into()), None)),
                _ => {}
            }
        }
        let at = self.at(now, delay);
        let origin_of = request.url.origin();
        if origin_of == MCP_ORIGIN {
            return Ok((self.mcp_origin(request, origin), at));
        }
        if origin_of != AS_ORIGIN {
            return Ok((Answer::Failed(format!("no such host: {origin_of}")), at));
        }
        if now < self.down_until {
            return Ok((Answer::Failed("connection refused".into()), at));
        }
        let answer = self.authorization_server(now, request)?;
        Ok((answer, at))
    }

    fn at(&self, now: Instant, delay: u64) -> Option<Instant> {
        Some(now + Duration::from_millis(delay))
    }

    fn mcp_origin(&self, request: &FetchRequest, origin: Origin) -> Answer {
        match origin {
            Origin::Down => return Answer::Failed("connection refused".into()),
            Origin::Overloaded => return Answer::Response(503, Vec::new()),
            Origin::Up => {}
        }
        let path = request.url.path();
        if request.method == "GET" && self.resource_metadata_paths.iter().any(|p| p == path) {
            let document = serde_json::json!({
                "resource": self.resource,
                "authorization_servers": [self.issuer],
                "scopes_supported": ["mcp", "admin"],
                "bearer_methods_supported": ["header"],
            });
            return Answer::Response(200, document.to_string().into_bytes());
        }
        Answer::Response(404, Vec::new())
    }

    fn metadata_locations(&self) -> Vec<String> {
        match self.issuer.strip_prefix(AS_ORIGIN) {
            Some("") | None => vec![
                "/.well-known/oauth-authorization-server".into(),
                "/.well-known/openid-configuration".into(),
            ],
            Some(path) => vec![
                format!("/.well-known/oauth-authorization-server{path}"),
                format!("/.well-known/openid-configuration{path}"),
                format!("{path}/.well-known/openid-configuration"),
            ],
        }
    }

    fn authorization_server(
        &mut self,
        now: Instant,
        request: &FetchRequest,
    ) -> Result<Answer, String> {
        let path = request.url.path();
        let tenant = self.issuer.strip_prefix(AS_ORIGIN).unwrap_or_default();
        let endpoint = path.strip_prefix(tenant).unwrap_or_default();
        if request.method == "GET" {
            if self
                .metadata_locations()
                .get(self.metadata_at)
                .map(String::as_str)
                == Some(path)
            {
                let document = serde_json::json!({
                    "issuer": self.issuer,
                    "authorization_endpoint": format!("{}/authorize", self.issuer),
                    "token_endpoint": format!("{}/token", self.issuer),
                    "registration_endpoint": format!("{}/register", self.issuer),
                    "scopes_supported": SCOPES,
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code", "refresh_token"],
                    "token_endpoint_auth_methods_supported": ["none"],
                    "code_challenge_methods_supported": ["S256"],
                    "authorization_response_iss_parameter_supported": self.iss_parameter,
                });
                return Ok(Answer::Response(200, document.to_string().into_bytes()));
            }
            return Ok(Answer::Response(404, Vec::new()));
        }
        match endpoint {
            "/register" => Ok(self.register(&request.body)),
            "/token" => self.token(now, &request.body),
            _ => Ok(Answer::Response(404, Vec::new())),
        }
    }

    fn register(&mut self, body: &[u8]) -> Answer {
        let Ok(document) = serde_json::from_slice::<serde_json::Value>(body) else {
            return oauth_error(400, "invalid_client_metadata");
        };
        let redirect = document["redirect_uris"][0].as_str().unwrap_or_default();
        if redirect != REDIRECT {
            return oauth_error(400, "invalid_redirect_uri");
        }
        let client_id = self.fresh("client");
        self.registrations
            .insert(client_id.clone(), redirect.to_string());
        let answer = serde_json::json!({
            "client_id": client_id,
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
        });
        Answer::Response(201, answer.to_string().into_bytes())
    }

    fn token(&mut self, now: Instant, body: &[u8]) -> Result<Answer, String> {
        let form = query_pairs(std::str::from_utf8(body).unwrap_or_default());
        let get = |name: &str| {
            form.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        if get("resource") != self.resource {
            return Err(format!(
                "a token request for resource {:?}, not {:?}",
                get("resource"),
                self.resource
            ));
        }
        let client_id = get("client_id");
        if !self.registrations.contains_key(client_id) {
            return Ok(oauth_error(401, "invalid_client"));
        }
        let scope = match get("grant_type") {
            "authorization_code" => {
                let Some(code) = self.codes.remove(get("code")) else {
                    return Ok(oauth_error(400, "invalid_grant"));
                };
                if code.client_id != client_id || code.expires <= now {
                    return Ok(oauth_error(400, "invalid_grant"));
                }
                if get("redirect_uri") != REDIRECT {
                    return Err(format!("a code redeemed for {:?}", get("redirect_uri")));
                }
                let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier")));
                if verifier != code.challenge {
                    return Err("the PKCE verifier does not match its challenge".into());
                }
                code.scope
            }
            "refresh_token" => {
                let Some((owner, scope)) = self.refresh_tokens.get(get("refresh_token")) else {
                    return Ok(oauth_error(400, "invalid_grant"));
                };
                if owner != client_id {
                    return Ok(oauth_error(400, "invalid_grant"));
                }
                let scope = scope.clone();
                if self.rng.chance(50) {
                    // Rotation: the old refresh token is spent.
                    self.refresh_tokens.remove(get("refresh_token"));
                }
                self.counts.2 += 1;
                scope
            }
            other => return Err(format!("a token request with grant_type {other:?}")),
        };
        let access_token = self.fresh("at");
        let lifetime = if self.faulty {
            [3, 15, 60, 600][self.rng.index(4)]
        } else {
            600
        };
        let scopes: Vec<String> = scope.split(' ').map(String::from).collect();
        self.tokens.insert(
            access_token.clone(),
            Issued {
                expires: now + Duration::from_secs(lifetime),
                scopes: scopes.clone(),
            },
        );
        self.counts.1 += 1;
        let mut answer = serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": scope,
        });
        let offline = scopes.iter().any(|s| s == "offline_access");
        if offline && (!self.faulty || self.rng.chance(85)) {
            let refresh = self.fresh("rt");
            self.refresh_tokens
                .insert(refresh.clone(), (client_id.to_string(), scope.clone()));
            answer["refresh_token"] = refresh.into();
        }
        Ok(Answer::Response(200, answer.to_string().into_bytes()))
    }

    /// What the person does with the authorization URL `url`, and when (`None`: never).
    /// `Err` when the URL is not one a flow should send a person to.
    pub(crate) fn authorize(
        &mut self,
        now: Instant,
        url: &str,
    ) -> Result<(Person, Option<Instant>), String> {
        let url = AuthUrl::parse(url).map_err(|e| format!("authorization URL: {e}"))?;
        let query = query_pairs(url.query());
        let get = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if url.to_string().split('?').next() != Some(&format!("{}/authorize", self.issuer)) {
            return Err(format!("the person was sent to {url}"));
        }
        let checks = [
            (get("response_type") == "code", "response_type"),
            (
                get("code_challenge_method") == "S256",
                "code_challenge_method",
            ),
            (!get("code_challenge").is_empty(), "code_challenge"),
            (get("redirect_uri") == REDIRECT, "redirect_uri"),
            (get("resource") == self.resource, "resource"),
            (!get("state").is_empty(), "state"),
            (get("scope").split(' ').any(|s| s == "mcp"), "scope"),
        ];
        if let Some((_, what)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(format!("the authorization URL's {what} is wrong: {url}"));
        }
        let delay = if self.faulty {
            [50, 1_000, 5_000, 30_000][self.rng.weighted(&[40, 30, 20, 10])]
        } else {
            500
        };
        let at = Some(now + Duration::from_millis(delay));
        let state = get("state");
        let client_id = get("client_id");
        if !self.registrations.contains_key(&client_id) {
            // RFC 6749 §4.1.2.1: an unknown client is told to the person, never redirected.
            return Ok((
                Person::Gives("the authorization server does not know this client".into()),
                at,
            ));
        }
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let roll = if self.faulty { self.rng.below(100) } else { 99 };
        let mut scope = get("scope");
        match roll {
            0..=5 => return Ok((Person::Gives("the person closed the browser".into()), at)),
            6..=11 => return Ok((Person::Gives("never came back".into()), None)),
            12..=17 => pairs.push(("error", "access_denied".into())),
            18..=23 => {
                pairs.push(("code", self.fresh("code-wrong-state")));
                pairs.push(("state", "not-the-state".into()));
            }
            roll => {
                if roll < 32 {
                    // The person grants less than asked for.
                    scope = scope
                        .split(' ')
                        .filter(|s| *s != "admin")
                        .collect::<Vec<_>>()
                        .join(" ");
                }
                let code = self.fresh("code");
                self.codes.insert(
                    code.clone(),
                    Code {
                        client_id,
                        challenge: get("code_challenge"),
                        scope: scope
                            .split(' ')
                            .filter(|s| SCOPES.contains(s))
                            .collect::<Vec<_>>()
                            .join(" "),
                        expires: now + Duration::from_millis(delay + 60_000),
                    },
                );
                pairs.push(("code", code));
            }
        }
        if !pairs.iter().any(|(n, _)| *n == "state") {
            pairs.push(("state", state));
        }
        if self.iss_parameter || (self.faulty && self.rng.chance(20)) {
            let iss = if self.faulty && self.rng.chance(5) {
                format!("{AS_ORIGIN}/mix-up")
            } else {
                self.issuer.clone()
            };
            pairs.push(("iss", iss));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let redirect = AuthUrl::parse(REDIRECT)
            .expect("the redirect URI is a URL")
            .with_query(&pairs)
            .to_string();
        Ok((Person::Redirect(redirect), at))
    }

    /// When the MCP server's application gives its verdict on a token (`None`: never; the
    /// engine gives up on it), and whether it could not verify it then (`Verdict::Unavailable`).
    pub(crate) fn verification(&mut self, now: Instant) -> (Option<Instant>, bool) {
        if !self.faulty {
            return (Some(now), false);
        }
        let delay = [0, 10, 500, 3_000][self.rng.weighted(&[40, 30, 20, 10])];
        let roll = self.rng.below(100);
        let at = (roll >= 2).then(|| now + Duration::from_millis(delay));
        (at, (2..5).contains(&roll))
    }

    /// The verdict on `token` at `now`: granted with its scopes for the rest of its life.
    pub(crate) fn verdict_at(&self, now: Instant, token: &str) -> Verdict {
        match self.tokens.get(token) {
            Some(issued) if issued.expires > now => Verdict::Granted(Grant::new(
                PRINCIPAL,
                issued.scopes.iter().cloned(),
                Some(issued.expires.saturating_duration_since(now)),
            )),
            Some(_) => Verdict::Refused("the token has expired".into()),
            None => Verdict::Refused("not a token of ours".into()),
        }
    }
}

fn oauth_error(status: u16, error: &str) -> Answer {
    Answer::Response(status, format!(r#"{{"error":"{error}"}}"#).into_bytes())
}
