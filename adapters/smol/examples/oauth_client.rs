//! mcpwire's client, signing in with OAuth 2.1 against a real authorization server
//! (oidc-provider, `tests/auth/as.mjs`) for `mcpwire serve` over HTTPS, in one era; run by
//! `tests/auth/run`.
//!
//! It owns the server: starts it from the command after `--`, kills it mid-flow and starts it
//! again on the same port, and stops it at the end. Its authorization handler is the person:
//! `tests/auth/authorize.mjs`, a child process, follows the authorization URL through the
//! provider's login and consent and prints where the browser would have landed.
//!
//! 1. The first request gets 401: discovery, dynamic registration, code + PKCE, the token;
//!    `whoami` answers the account that signed in; the person was asked once.
//! 2. The access token expires (its resource's tokens live a few seconds): the next call gets
//!    401, the client refreshes (the provider saw `grant_type=refresh_token`), the person is
//!    not asked again, and in the session era the session is the same.
//! 3. Step-up: `announce_list_changed` needs `mcp:admin`: 403 `insufficient_scope`, a second
//!    authorization for what was held and what is missing, and the call succeeds.
//! 4. A second client: while its person is authorizing a step-up, the server is killed and
//!    started again; the flow completes and the call succeeds (in a new session, in the
//!    session era: the old one died with the server).
//! 5. Each client closes, and the server's gauges come back to where they were before it;
//!    once the short-lived grants have expired, the server holds no byte.
//!
//! Prints `ok - ...` / `not ok - ...` per check and `oauth client (ERA): N passed, M failed`;
//! exits 1 on any failure.
//!
//! Usage: oauth_client sessions|modern PORT CA_FILE AS_URL NODE AUTHORIZE_MJS SERVER_LOG
//! -- SERVER_COMMAND...

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::OpenOptions;
use std::net::TcpStream;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcpwire_smol::client::oauth::{MemoryStore, OAuthConfig, StoredAuth, TokenStore, query_pairs};
use mcpwire_smol::client::{Client, EraChoice};
use serde_json::{Value, json};
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt;

/// Where the browser is sent back (never listened on: the handler prints the URL instead).
const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Every wait of this program ends within this.
const WAIT: Duration = Duration::from_secs(20);

struct Settings {
    modern: bool,
    port: u16,
    ca: String,
    as_url: String,
    node: String,
    authorize: String,
    log: String,
    server: Vec<String>,
}

impl Settings {
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/mcp", self.port)
    }
}

#[derive(Default)]
struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn check(&mut self, ok: bool, what: &str, detail: impl Debug) -> bool {
        if ok {
            self.passed += 1;
            println!("ok - {what}");
        } else {
            self.failed += 1;
            println!("not ok - {what}: {detail:?}");
        }
        ok
    }
}

/// `mcpwire serve`, owned: killed and reaped when dropped.
struct Server {
    child: Option<Child>,
}

impl Server {
    fn start(settings: &Settings) -> Result<Server, String> {
        let log = |what| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&settings.log)
                .map_err(|e| format!("{what} {}: {e}", settings.log))
        };
        let (program, args) = settings.server.split_first().ok_or("no server command")?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log("stdout to")?)
            .stderr(log("stderr to")?)
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let server = Server { child: Some(child) };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", settings.port)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "the server did not listen on port {}",
            settings.port
        ))
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The token store, watched: what the flows saved, and how often.
#[derive(Default)]
struct Watched {
    kept: MemoryStore,
    saves: AtomicUsize,
}

impl TokenStore for Watched {
    fn load(&self) -> Option<StoredAuth> {
        self.kept.load()
    }

    fn save(&self, auth: &StoredAuth) {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.kept.save(auth);
    }
}

impl Watched {
    fn token(&self, field: fn(&mcpwire_smol::client::oauth::Tokens) -> Option<String>) -> String {
        self.load()
            .and_then(|a| a.tokens)
            .and_then(|t| field(&t))
            .unwrap_or_default()
    }
}

/// Holds the person back until the test lets go: `paused` says it waits, `resume` ends it.
struct Pause {
    paused: Sender<()>,
    resume: Receiver<()>,
}

/// The person: asked once per authorization, each URL kept.
struct Person {
    node: String,
    script: String,
    urls: Mutex<Vec<String>>,
    pause: Mutex<Option<Pause>>,
}

impl Person {
    fn asked(&self) -> usize {
        self.urls.lock().map_or(0, |u| u.len())
    }

    fn url(&self, at: usize) -> BTreeMap<String, String> {
        let urls = self.urls.lock().map(|u| u.clone()).unwrap_or_default();
        let url = urls.get(at).cloned().unwrap_or_default();
        let query = url.split_once('?').map_or("", |(_, q)| q);
        query_pairs(query).into_iter().collect()
    }

    async fn authorize(&self, url: String) -> Result<String, String> {
        if let Ok(mut urls) = self.urls.lock() {
            urls.push(url.clone());
        }
        let pause = self.pause.lock().ok().and_then(|mut p| p.take());
        if let Some(pause) = pause {
            let _ = pause.paused.send(()).await;
            pause
                .resume
                .recv()
                .await
                .map_err(|_| "the test let go of the person without resuming".to_string())?;
        }
        // Killed if the flow is dropped (the client closed meanwhile); reaped either way.
        let output = smol::process::Command::new(&self.node)
            .arg(&self.script)
            .arg(&url)
            .arg(REDIRECT_URI)
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", self.script))?;
        if !output.status.success() {
            return Err(format!(
                "the authorization failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

/// A client of the server that signs in as `person` and keeps its tokens in `store`.
async fn connect(
    settings: &Settings,
    person: &Arc<Person>,
    store: &Arc<Watched>,
) -> Result<Client, String> {
    let mut config = OAuthConfig::authorization_code(REDIRECT_URI, "mcpwire oauth client test");
    config.limits.authorize_timeout = mcpwire_smol::time::Duration::from_secs(30);
    let person = person.clone();
    let era = if settings.modern {
        EraChoice::Modern
    } else {
        EraChoice::Sessions
    };
    Client::builder(&settings.url())
        .map_err(|e| e.to_string())?
        .ca_file(&settings.ca)
        .map_err(|e| e.to_string())?
        .name("mcpwire-oauth-client-test", "1.0.0")
        .era(era)
        .request_timeout(WAIT)
        .reconnect_timeout(WAIT)
        .oauth(config)
        .on_authorize(move |url| {
            let person = person.clone();
            async move { person.authorize(url).await }
        })
        .token_store(store.clone())
        .connect()
        .await
        .map_err(|e| e.to_string())
}

fn person(settings: &Settings) -> Arc<Person> {
    Arc::new(Person {
        node: settings.node.clone(),
        script: settings.authorize.clone(),
        urls: Mutex::new(Vec::new()),
        pause: Mutex::new(None),
    })
}

/// The first text of a tool's result.
fn text(result: &Result<Value, impl ToString>) -> String {
    match result {
        Ok(value) => value["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        Err(e) => format!("error: {}", e.to_string()),
    }
}

/// `curl` of `url` (with the test CA): its body.
async fn get(url: &str, ca: &str) -> Result<String, String> {
    let output = smol::process::Command::new("curl")
        .args(["-sf", "--max-time", "10", "--cacert", ca, url])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("curl: {e}"))?;
    if !output.status.success() {
        return Err(format!("curl {url}: {}", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The server's metrics, by name (with labels).
async fn metrics(settings: &Settings) -> BTreeMap<String, f64> {
    let url = format!("https://127.0.0.1:{}/metrics", settings.port);
    let body = get(&url, &settings.ca).await.unwrap_or_default();
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

async fn metric(settings: &Settings, name: &str) -> f64 {
    metrics(settings).await.get(name).copied().unwrap_or(-1.0)
}

/// The gauges a client leaves as they were: not the counters, and not the grants cache, which
/// keeps a verified token's grant (and its bytes) until the token expires.
fn gauges(all: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let cache = [
        "mcpwire_cached_grants",
        "mcpwire_held_bytes{kind=\"sessions\"}",
    ];
    all.iter()
        .filter(|(name, _)| !name.ends_with("_total") && !name.contains("_total{"))
        .filter(|(name, _)| !cache.contains(&name.as_str()))
        .map(|(n, v)| (n.clone(), *v))
        .collect()
}

/// Until every gauge is back to `baseline` (within [`WAIT`]): those that are not.
async fn off_baseline(settings: &Settings, baseline: &BTreeMap<String, f64>) -> Vec<String> {
    let mut off = vec!["the metrics were never read".to_string()];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let now = gauges(&metrics(settings).await);
        off = baseline
            .iter()
            .filter(|(name, value)| now.get(*name) != Some(value))
            .map(|(name, value)| format!("{name} {:?} (was {value})", now.get(name)))
            .collect();
        if off.is_empty() {
            break;
        }
        smol::Timer::after(Duration::from_millis(100)).await;
    }
    off
}

/// How many times the authorization server was asked `what` (a path, or `grant:TYPE`).
async fn asked(settings: &Settings, what: &str) -> u64 {
    let counts = get(&format!("{}/_counts", settings.as_url), &settings.ca).await;
    counts
        .ok()
        .and_then(|c| serde_json::from_str::<Value>(&c).ok())
        .and_then(|c| c[what].as_u64())
        .unwrap_or(0)
}

fn scopes(scope: &str) -> Vec<&str> {
    scope.split(' ').filter(|s| !s.is_empty()).collect()
}

/// Steps 1 to 3 and 5, with one client.
async fn sign_in_refresh_step_up(
    settings: &Settings,
    checks: &mut Checks,
    baseline: &BTreeMap<String, f64>,
) -> Result<(), String> {
    let url = settings.url();
    let person = person(settings);
    let store = Arc::new(Watched::default());
    let registrations = asked(settings, "/reg").await;
    let codes = asked(settings, "grant:authorization_code").await;
    let challenges = metric(settings, "mcpwire_auth_challenges_total").await;

    // 1. Signing in.
    let client = connect(settings, &person, &store).await?;
    let stats = client.stats().await.unwrap_or_default();
    checks.check(
        stats.authorizations_required_total == 1
            && metric(settings, "mcpwire_auth_challenges_total").await > challenges,
        "the first request was refused (401), once",
        stats,
    );
    checks.check(
        asked(settings, "/reg").await == registrations + 1,
        "the client registered itself at the provider (RFC 7591)",
        asked(settings, "/reg").await,
    );
    let first = person.url(0);
    checks.check(
        person.asked() == 1
            && first.get("code_challenge_method").map(String::as_str) == Some("S256")
            && first.get("code_challenge").is_some_and(|c| c.len() == 43)
            && first.get("resource") == Some(&url)
            && first.get("redirect_uri").map(String::as_str) == Some(REDIRECT_URI)
            && first.get("scope").is_some_and(|s| {
                scopes(s).contains(&"mcp") && scopes(s).contains(&"offline_access")
            })
            && first.get("prompt").map(String::as_str) == Some("consent"),
        "the person was asked once: PKCE S256, resource = the server, mcp and offline_access with consent",
        &first,
    );
    checks.check(
        asked(settings, "grant:authorization_code").await == codes + 1
            && !store.token(|t| t.refresh_token.clone()).is_empty()
            && store.token(|t| t.resource.clone()) == url,
        "the code was exchanged for tokens for this server, with a refresh token",
        store
            .load()
            .and_then(|a| a.tokens)
            .map(|t| (t.scope, t.expires_in, t.resource)),
    );
    let who = client.call_tool("whoami", json!({})).await;
    checks.check(
        text(&who) == "alice",
        "whoami answers alice, who signed in",
        text(&who),
    );
    let opened = metric(settings, "mcpwire_sessions_opened_total").await;
    if !settings.modern {
        checks.check(
            opened == 1.0 && client.stats().await.is_some_and(|s| s.session),
            "one session",
            opened,
        );
    }

    // 2. The access token expires; the refresh token gets another, with no person.
    let refreshes = asked(settings, "grant:refresh_token").await;
    let refused = metric(settings, "mcpwire_tokens_refused_total").await;
    let old_token = store.token(|t| Some(t.access_token.clone()));
    let lifetime = store
        .load()
        .and_then(|a| a.tokens)
        .and_then(|t| t.expires_in)
        .unwrap_or(u64::MAX);
    if !checks.check(
        lifetime <= 10,
        "the access token lives a few seconds",
        lifetime,
    ) {
        return Err("the access token lives too long to wait for".into());
    }
    // Its `exp` is at most `lifetime` seconds after it was issued (before it was saved).
    smol::Timer::after(Duration::from_secs(lifetime + 1)).await;
    let who = client.call_tool("whoami", json!({})).await;
    checks.check(
        text(&who) == "alice",
        "after the token expired, whoami still answers alice",
        text(&who),
    );
    checks.check(
        metric(settings, "mcpwire_tokens_refused_total").await > refused,
        "the expired token was refused",
        metric(settings, "mcpwire_tokens_refused_total").await,
    );
    checks.check(
        asked(settings, "grant:refresh_token").await > refreshes
            && store.token(|t| Some(t.access_token.clone())) != old_token,
        "the client refreshed: the provider saw grant_type=refresh_token, a new access token",
        asked(settings, "grant:refresh_token").await,
    );
    checks.check(
        person.asked() == 1,
        "the person was not asked again",
        person.asked(),
    );
    if !settings.modern {
        let stats = client.stats().await.unwrap_or_default();
        checks.check(
            metric(settings, "mcpwire_sessions_opened_total").await == opened
                && stats.sessions_lost_total == 0
                && stats.session,
            "the session outlived the access token (no new session)",
            (
                metric(settings, "mcpwire_sessions_opened_total").await,
                stats.sessions_lost_total,
            ),
        );
    }

    // 3. Step-up.
    let held = store.token(|t| t.scope.clone());
    let announced = client
        .call_tool("announce_list_changed", json!({"list": "tools"}))
        .await;
    checks.check(
        text(&announced).ends_with("notified"),
        "announce_list_changed (needs mcp:admin) succeeds",
        text(&announced),
    );
    let second = person.url(1);
    let asked_scope = second.get("scope").map(String::as_str).unwrap_or_default();
    let union = scopes(&held)
        .into_iter()
        .chain(["mcp:admin"])
        .all(|s| scopes(asked_scope).contains(&s));
    checks.check(
        person.asked() == 2 && union,
        "its 403 insufficient_scope made a second authorization, for what was held and mcp:admin",
        (held, asked_scope),
    );
    checks.check(
        scopes(&store.token(|t| t.scope.clone())).contains(&"mcp:admin"),
        "the new token has mcp:admin",
        store.token(|t| t.scope.clone()),
    );
    let who = client.call_tool("whoami", json!({})).await;
    checks.check(
        text(&who) == "alice",
        "whoami still answers alice",
        text(&who),
    );
    if !settings.modern {
        checks.check(
            metric(settings, "mcpwire_sessions_opened_total").await == opened,
            "the session outlived the step-up",
            metric(settings, "mcpwire_sessions_opened_total").await,
        );
    }

    // 5. Closing.
    client.close().await;
    let off = off_baseline(settings, baseline).await;
    checks.check(
        off.is_empty(),
        "the client closed: every gauge of the server is back to its baseline",
        off,
    );
    Ok(())
}

/// Step 4 (and 5): the server killed and started again while the person authorizes.
async fn restart_mid_flow(
    settings: &Settings,
    checks: &mut Checks,
    server: &mut Server,
    baseline: &BTreeMap<String, f64>,
) -> Result<(), String> {
    let person = person(settings);
    let store = Arc::new(Watched::default());
    let client = connect(settings, &person, &store).await?;
    let who = client.call_tool("whoami", json!({})).await;
    checks.check(
        text(&who) == "alice",
        "a second client signs in: whoami answers alice",
        text(&who),
    );
    let (paused, on_pause) = smol::channel::bounded(1);
    let (resume, on_resume) = smol::channel::bounded(1);
    if let Ok(mut pause) = person.pause.lock() {
        *pause = Some(Pause {
            paused,
            resume: on_resume,
        });
    }
    let call = client.call_tool("announce_list_changed", json!({"list": "tools"}));
    let restart = async {
        let waiting = async { on_pause.recv().await.is_ok() }
            .or(async {
                smol::Timer::after(WAIT).await;
                false
            })
            .await;
        if !waiting {
            return Err("the person was never asked".to_string());
        }
        server.kill();
        let started = Server::start(settings);
        // Whatever happened, the person goes on (the flow must not wait for nothing).
        let _ = resume.send(()).await;
        *server = started?;
        Ok(())
    };
    let (announced, restarted) = smol::future::zip(call, restart).await;
    checks.check(
        restarted.is_ok(),
        "the server was killed while the person authorized, and started again",
        &restarted,
    );
    checks.check(
        text(&announced).ends_with("notified") && person.asked() == 2,
        "the flow completed and announce_list_changed succeeds on the new server",
        text(&announced),
    );
    let who = client.call_tool("whoami", json!({})).await;
    checks.check(
        text(&who) == "alice",
        "whoami answers alice on the new server",
        text(&who),
    );
    let stats = client.stats().await.unwrap_or_default();
    if settings.modern {
        checks.check(
            !stats.session && metric(settings, "mcpwire_sessions_opened_total").await == 0.0,
            "no session anywhere",
            stats,
        );
    } else {
        checks.check(
            stats.session
                && stats.sessions_lost_total == 1
                && metric(settings, "mcpwire_sessions_opened_total").await == 1.0,
            "the client found its session gone (404) and opened one on the new server",
            (
                stats.sessions_lost_total,
                metric(settings, "mcpwire_sessions_opened_total").await,
            ),
        );
    }
    client.close().await;
    let off = off_baseline(settings, baseline).await;
    checks.check(
        off.is_empty(),
        "the second client closed: every gauge of the new server is back to the first's baseline",
        off,
    );
    // The grants of the short-lived tokens expire with them: then the server holds nothing.
    let mut held = vec!["the metrics were never read".to_string()];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let all = metrics(settings).await;
        held = all
            .iter()
            .filter(|(name, value)| {
                (name.starts_with("mcpwire_held_bytes") || *name == "mcpwire_cached_grants")
                    && **value != 0.0
            })
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        if all.contains_key("mcpwire_cached_grants") && held.is_empty() {
            break;
        }
        smol::Timer::after(Duration::from_millis(100)).await;
    }
    checks.check(
        held.is_empty(),
        "its grants expired with the tokens: the server holds no byte",
        held,
    );
    Ok(())
}

async fn run(settings: &Settings, checks: &mut Checks) -> Result<(), String> {
    let mut server = Server::start(settings)?;
    let baseline = gauges(&metrics(settings).await);
    if !checks.check(
        baseline.contains_key("mcpwire_sessions"),
        "the server serves its metrics over HTTPS",
        &baseline,
    ) {
        return Err("no metrics".into());
    }
    sign_in_refresh_step_up(settings, checks, &baseline).await?;
    restart_mid_flow(settings, checks, &mut server, &baseline).await?;
    server.kill();
    Ok(())
}

fn settings() -> Option<Settings> {
    let mut args = std::env::args().skip(1);
    let mut next = || args.next();
    let modern = match next()?.as_str() {
        "modern" => true,
        "sessions" => false,
        _ => return None,
    };
    let settings = Settings {
        modern,
        port: next()?.parse().ok()?,
        ca: next()?,
        as_url: next()?,
        node: next()?,
        authorize: next()?,
        log: next()?,
        server: {
            if next()? != "--" {
                return None;
            }
            std::iter::from_fn(next).collect()
        },
    };
    Some(settings)
}

fn main() -> ExitCode {
    let Some(settings) = settings() else {
        eprintln!(
            "usage: oauth_client sessions|modern PORT CA_FILE AS_URL NODE AUTHORIZE_MJS SERVER_LOG -- SERVER_COMMAND..."
        );
        return ExitCode::from(2);
    };
    let era = if settings.modern {
        "2026-07-28"
    } else {
        "2025-11-25"
    };
    let mut checks = Checks::default();
    if let Err(why) = smol::block_on(run(&settings, &mut checks)) {
        checks.check(false, "the steps ran to their end", why);
    }
    println!(
        "oauth client ({era}): {} passed, {} failed",
        checks.passed, checks.failed
    );
    if checks.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
