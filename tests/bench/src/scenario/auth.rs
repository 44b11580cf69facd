//! What protecting a server costs: stateless (2026-07-28) `tools/call` round trips with a JWT
//! access token checked on every request, against the same server without auth.
//!
//! The authorization server is oidc-provider as tests/auth runs it (`as.mjs`, keys from
//! `keys.mjs`); one token per resource is minted by client credentials (`peers/auth/token.mjs`)
//! and sent as `Authorization: Bearer` on every call. The peers are `mcpwire serve
//! --auth-issuer` (which verifies a token once and keeps its grant until it expires) and the
//! TypeScript SDK v2 server behind the SDK 1.32's `requireBearerAuth` with a jose verifier
//! (which verifies the signature on every request). What a verification itself costs, the
//! work of every token mcpwire has not seen, is timed apart on both sides
//! (`bench-jwt-verify`, `peers/typescript/verify-jwt.mjs`), and counted by callgrind.

use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Outcome;
use crate::mcp::Requests;
use crate::peer::Paths;
use crate::scenario::round_trips::{self, Mode, RoundTrips};

/// The peers of this scenario.
pub const PEERS: [&str; 2] = ["mcpwire", "typescript-v2"];

/// One peer's figures at one connection count, without and with a token.
#[derive(Clone, Debug)]
pub struct Row {
    pub peer: &'static str,
    pub connections: usize,
    pub plain: Outcome<RoundTrips>,
    pub jwt: Outcome<RoundTrips>,
}

/// What one verification costs, with the keys cached.
#[derive(Clone, Debug, Default)]
pub struct VerifyCost {
    pub mcpwire_nanos: Option<Outcome<u64>>,
    pub mcpwire_instructions: Option<Outcome<f64>>,
    pub jose_nanos: Option<Outcome<u64>>,
}

pub struct Results {
    pub rows: Vec<Row>,
    pub verify: VerifyCost,
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn log(name: &str) -> io::Result<Stdio> {
    let path = std::env::temp_dir().join(format!("mcpwire-bench-auth-{name}.log"));
    Ok(Stdio::from(
        std::fs::File::options()
            .create(true)
            .append(true)
            .open(path)?,
    ))
}

/// Runs `program arguments` to its end and returns its stdout's first line.
fn output(program: &Path, arguments: &[String], cwd: &Path) -> io::Result<String> {
    let out = Command::new(program)
        .args(arguments)
        .current_dir(cwd)
        .stderr(Stdio::piped())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}

/// Where things are.
pub struct Setup<'a> {
    pub paths: &'a Paths,
    /// tests/auth, with its node_modules (oidc-provider).
    pub auth_dir: PathBuf,
}

struct Peer {
    name: &'static str,
    port: u16,
    resource: String,
    token: Arc<str>,
}

impl Peer {
    fn command(&self, setup: &Setup<'_>, issuer: Option<&str>) -> Vec<String> {
        let paths = setup.paths;
        let mut command: Vec<String> = Vec::new();
        if let Some(cpu) = paths.server_cpu {
            command.extend(["taskset".into(), "-c".into(), cpu.to_string()]);
        }
        match self.name {
            "mcpwire" => {
                command.extend([
                    paths.bin_dir.join("mcpwire").display().to_string(),
                    "serve".into(),
                    "--bind".into(),
                    format!("127.0.0.1:{}", self.port),
                ]);
                if let Some(issuer) = issuer {
                    command.extend([
                        "--resource".into(),
                        self.resource.clone(),
                        "--auth-issuer".into(),
                        issuer.into(),
                        "--auth-scope".into(),
                        "mcp".into(),
                    ]);
                }
            }
            _ => {
                command.extend([
                    paths.node.display().to_string(),
                    paths
                        .peers_dir
                        .join("typescript/server-v2.mjs")
                        .display()
                        .to_string(),
                    "--port".into(),
                    self.port.to_string(),
                ]);
                if let Some(issuer) = issuer {
                    command.extend([
                        "--auth-issuer".into(),
                        issuer.into(),
                        "--resource".into(),
                        self.resource.clone(),
                    ]);
                }
            }
        }
        command
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Starts `command` and waits (at most 20 s) until `address` accepts connections.
async fn start(
    command: &[String],
    cwd: &Path,
    name: &str,
    address: SocketAddr,
) -> io::Result<Process> {
    let child = Command::new(&command[0])
        .args(&command[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log(name)?)
        .spawn()?;
    let mut process = Process(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            return Ok(process);
        }
        if process.0.try_wait()?.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(io::Error::other(format!("{name} did not start listening")))
}

/// The authorization server, listening and ready.
fn start_authorization_server(
    setup: &Setup<'_>,
    port: u16,
    jwks: &Path,
    resources: &[String],
) -> io::Result<Process> {
    let node = &setup.paths.node;
    output(
        node,
        &["keys.mjs".into(), jwks.display().to_string()],
        &setup.auth_dir,
    )?;
    let mut arguments = vec![
        "as.mjs".to_string(),
        port.to_string(),
        jwks.display().to_string(),
    ];
    arguments.extend(resources.iter().cloned());
    let mut child = Command::new(node)
        .args(&arguments)
        .current_dir(&setup.auth_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log("oidc-provider")?)
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let process = Process(child);
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(line)) if line.trim() == "ready" => Ok(process),
        _ => Err(io::Error::other("oidc-provider did not start")),
    }
}

/// A peer's index, a connection count, its runs without and with a token.
type Runs = (
    usize,
    usize,
    Vec<Outcome<RoundTrips>>,
    Vec<Outcome<RoundTrips>>,
);

/// The median of the runs by round trips per second, or the first failure.
fn median(runs: Vec<Outcome<RoundTrips>>) -> Outcome<RoundTrips> {
    let mut ok: Vec<RoundTrips> = runs
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    if ok.is_empty() {
        return runs.into_iter().next().unwrap_or(Err("not run".into()));
    }
    ok.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    Ok(ok[(ok.len() - 1) / 2].clone())
}

/// Every round trip figure, `repeat` times with the peers and variants taking turns, then the
/// verification costs.
pub async fn run(
    setup: &Setup<'_>,
    only: Option<&[String]>,
    connections: &[usize],
    warmup: Duration,
    measure: Duration,
    repeat: usize,
) -> io::Result<Results> {
    let work = std::env::temp_dir().join(format!("mcpwire-bench-auth-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let jwks = work.join("jwks.json");
    let as_port = free_port()?;
    let issuer = format!("http://127.0.0.1:{as_port}");
    let mut peers = Vec::new();
    for name in PEERS
        .into_iter()
        .filter(|n| only.is_none_or(|only| only.iter().any(|o| o == n)))
    {
        let port = free_port()?;
        peers.push(Peer {
            name,
            port,
            resource: format!("http://127.0.0.1:{port}/mcp"),
            token: Arc::from(""),
        });
    }
    let resources: Vec<String> = peers.iter().map(|p| p.resource.clone()).collect();
    eprintln!("auth: oidc-provider at {issuer}");
    let _authorization_server = start_authorization_server(setup, as_port, &jwks, &resources)?;
    let minter = setup.paths.peers_dir.join("auth/token.mjs");
    for peer in &mut peers {
        let token = output(
            &setup.paths.node,
            &[
                minter.display().to_string(),
                issuer.clone(),
                peer.resource.clone(),
            ],
            &setup.paths.peers_dir,
        )?;
        peer.token = Arc::from(token);
    }

    let mut runs: Vec<Runs> = Vec::new();
    for (p, _) in peers.iter().enumerate() {
        for &c in connections {
            runs.push((p, c, Vec::new(), Vec::new()));
        }
    }
    for round in 0..repeat {
        for (p, c, plain, jwt) in &mut runs {
            let peer = &peers[*p];
            for with_token in [false, true] {
                eprintln!(
                    "  {}, run {} of {repeat}: stateless tools/call, {c} connections, {}",
                    peer.name,
                    round + 1,
                    if with_token { "JWT" } else { "no auth" }
                );
                let command = peer.command(setup, with_token.then_some(issuer.as_str()));
                let outcome = async {
                    let _server =
                        start(&command, &setup.paths.peers_dir, peer.name, peer.address()).await?;
                    let requests = Requests::new(peer.address())
                        .with_bearer(with_token.then(|| peer.token.clone()))
                        .with_echo_argument(if peer.name == "mcpwire" {
                            "text"
                        } else {
                            "message"
                        });
                    let (latencies, elapsed) = round_trips::closed_loops(
                        peer.address(),
                        requests,
                        Mode::Stateless,
                        *c,
                        warmup,
                        measure,
                    )
                    .await?;
                    round_trips::summarize(*c, latencies, elapsed)
                }
                .await
                .map_err(|e| e.to_string());
                if let Err(error) = &outcome {
                    eprintln!("    failed: {error}");
                }
                if with_token {
                    jwt.push(outcome);
                } else {
                    plain.push(outcome);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let rows = runs
        .into_iter()
        .map(|(p, connections, plain, jwt)| Row {
            peer: peers[p].name,
            connections,
            plain: median(plain),
            jwt: median(jwt),
        })
        .collect();

    let mut verify = VerifyCost::default();
    let pin: Vec<String> = setup
        .paths
        .server_cpu
        .map(|cpu| vec!["taskset".into(), "-c".into(), cpu.to_string()])
        .unwrap_or_default();
    let timed = |command: Vec<String>| -> Outcome<u64> {
        let (program, arguments) = command.split_first().expect("a program");
        output(Path::new(program), arguments, &setup.paths.peers_dir)
            .and_then(|line| line.parse().map_err(io::Error::other))
            .map_err(|e| e.to_string())
    };
    for peer in &peers {
        let common = [
            issuer.clone(),
            peer.resource.clone(),
            peer.token.to_string(),
        ];
        if peer.name == "mcpwire" {
            eprintln!("  mcpwire: one JwtVerifier verification, timed");
            let bin = setup
                .paths
                .bin_dir
                .join("bench-jwt-verify")
                .display()
                .to_string();
            let mut command = pin.clone();
            command.push(bin.clone());
            command.extend(common.iter().cloned());
            command.extend(["15".into(), "200".into()]);
            verify.mcpwire_nanos = Some(timed(command));
            if crate::scenario::instructions::available() {
                eprintln!("  mcpwire: one JwtVerifier verification, under callgrind");
                verify.mcpwire_instructions =
                    Some(instructions(&bin, &common, &work).map_err(|e| e.to_string()));
            }
        } else {
            eprintln!("  typescript: one jose jwtVerify, timed");
            let mut command = pin.clone();
            command.extend([
                setup.paths.node.display().to_string(),
                setup
                    .paths
                    .peers_dir
                    .join("typescript/verify-jwt.mjs")
                    .display()
                    .to_string(),
            ]);
            command.extend(common.iter().cloned());
            command.extend(["15".into(), "200".into()]);
            verify.jose_nanos = Some(timed(command));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(Results { rows, verify })
}

/// Instructions of one verification: callgrind totals of 50 and 250 verifications, the
/// difference over 200.
fn instructions(bin: &str, common: &[String], work: &Path) -> io::Result<f64> {
    let counts = [50usize, 250];
    let mut totals = [0u64; 2];
    for (total, count) in totals.iter_mut().zip(counts) {
        let out = work.join(format!("callgrind-{count}.out"));
        let mut arguments = vec![
            "--tool=callgrind".to_string(),
            format!("--callgrind-out-file={}", out.display()),
            bin.to_string(),
        ];
        arguments.extend(common.iter().cloned());
        arguments.extend(["1".into(), count.to_string()]);
        output(Path::new("valgrind"), &arguments, work)?;
        *total = crate::scenario::instructions::read_total(&out)?;
    }
    Ok(totals[1].saturating_sub(totals[0]) as f64 / (counts[1] - counts[0]) as f64)
}
