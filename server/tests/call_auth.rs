//! `mcpwire call`'s credentials against `mcpwire serve`, through a relay the test owns that
//! records what the command sends: `--header` fields go with every request; a token kept in
//! the token file goes from the first request; a token file others may read is refused with a
//! warning naming it (at `--token-file`, under `$XDG_CONFIG_HOME`, under `$HOME`), and
//! `--no-token-store` reads none; a server that answers 401 starts a sign-in, which fails by
//! name when the authorization server cannot be reached; bad flags exit 2 naming the flag.

#![cfg(unix)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::Server;

/// Relays connections to `upstream` and keeps every byte the client sent.
struct Recorder {
    addr: SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    fn new(upstream: SocketAddr) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = TcpStream::connect(upstream) else {
                    return;
                };
                let (mut client_out, mut server_in) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server_in, &mut client_out);
                    let _ = client_out.shutdown(Shutdown::Write);
                });
                let record = record.clone();
                std::thread::spawn(move || {
                    let mut chunk = [0u8; 16 * 1024];
                    while let Ok(n) = client.read(&mut chunk) {
                        if n == 0 || server.write_all(&chunk[..n]).is_err() {
                            break;
                        }
                        record.lock().unwrap().extend_from_slice(&chunk[..n]);
                    }
                    let _ = server.shutdown(Shutdown::Write);
                });
            }
        });
        Recorder { addr, sent }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    fn sent(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().unwrap()).into_owned()
    }
}

/// A directory of this test's own, removed with it.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("mcpwire-call-auth-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `mcpwire call` with `args` and `env`, in an environment with no token directory of the
/// user's (HOME and XDG_CONFIG_HOME point into `home`).
fn call(home: &Path, args: &[&str], env: &[(&str, &Path)]) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcpwire"));
    command
        .arg("call")
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg"));
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("mcpwire runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A token file at `path` holding `access` for `resource`, with `mode`.
fn token_file(path: &Path, access: &str, resource: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let json = serde_json::json!({
        "tokens": {"access_token": access, "resource": resource}
    });
    std::fs::write(path, json.to_string()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Requests in `sent`, and how many of them carry `line` among their header fields.
fn count(sent: &str, line: &str) -> (usize, usize) {
    let requests = sent.matches(" HTTP/1.1\r\n").count();
    let with = sent.matches(&format!("\r\n{line}\r\n")).count();
    (requests, with)
}

#[test]
fn headers_go_with_every_request_in_both_eras() {
    let server = Server::start(&[]);
    let home = TempDir::new("headers");
    for era in ["modern", "sessions"] {
        let relay = Recorder::new(server.addr);
        let (code, stdout, stderr) = call(
            &home.0,
            &[
                &relay.url(),
                "--list",
                "--era",
                era,
                "--header",
                "X-Api-Key: k1",
                "--header=authorization:Bearer static-token",
                "--timeout",
                "30",
            ],
            &[],
        );
        assert_eq!(code, Some(0), "{era}: {stdout} {stderr}");
        let sent = relay.sent();
        let (requests, keyed) = count(&sent, "x-api-key: k1");
        assert!(requests >= 2, "{era}: {sent}");
        assert_eq!(keyed, requests, "{era}: {sent}");
        let (_, bearer) = count(&sent, "authorization: Bearer static-token");
        assert_eq!(bearer, requests, "{era}: {sent}");
    }
}

#[test]
fn a_malformed_header_or_key_exits_2_naming_the_flag() {
    let home = TempDir::new("bad-flags");
    for (args, says) in [
        (&["--header", "novalue"][..], "--header takes NAME:VALUE"),
        (&["--header", "x-a:b\rc"][..], "control character"),
        (&["--header", ": v"][..], "is not a header name"),
        (
            &["--redirect-port", "0"][..],
            "--redirect-port takes a port",
        ),
        (&["--client-secret-file", "/x"][..], "needs --client-id"),
    ] {
        let mut all = vec!["http://127.0.0.1:1/mcp", "tool"];
        all.extend_from_slice(args);
        let (code, _, stderr) = call(&home.0, &all, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let key = home.0.join("key.pem");
    std::fs::write(&key, "not a key\n").unwrap();
    let (code, _, stderr) = call(
        &home.0,
        &[
            "http://127.0.0.1:1/mcp",
            "tool",
            "--client-id",
            "robot",
            "--client-key-file",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--client-key-file"), "{stderr}");
}

#[test]
fn a_kept_token_goes_from_the_first_request() {
    let server = Server::start(&[]);
    let relay = Recorder::new(server.addr);
    let home = TempDir::new("kept");
    let file = home.0.join("tokens.json");
    token_file(&file, "kept-token", &relay.url(), 0o600);
    let (code, stdout, stderr) = call(
        &home.0,
        &[
            &relay.url(),
            "--list",
            "--token-file",
            file.to_str().unwrap(),
            "--timeout",
            "30",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let sent = relay.sent();
    let (requests, bearer) = count(&sent, "authorization: Bearer kept-token");
    assert!(
        sent.starts_with("POST ") && requests >= 1 && bearer == requests,
        "{sent}"
    );
}

#[test]
fn a_token_file_others_may_read_is_refused_wherever_it_is() {
    let server = Server::start(&[]);
    let relay = Recorder::new(server.addr);
    let url = relay.url();
    let home = TempDir::new("loose");
    let hash = mcpwire_smol::client::oauth::FileStore::in_dir("", &url)
        .path()
        .to_path_buf();
    let xdg = home.0.join("xdg");
    let under_xdg = xdg.join("mcpwire/tokens").join(&hash);
    let under_home = home.0.join(".config/mcpwire/tokens").join(&hash);
    let explicit = home.0.join("explicit.json");
    for file in [&under_xdg, &under_home, &explicit] {
        token_file(file, "leaked-token", &url, 0o644);
    }
    let explicit_args = ["--token-file", explicit.to_str().unwrap()];
    for (extra, env, file) in [
        (
            &[][..],
            vec![("XDG_CONFIG_HOME", xdg.as_path())],
            &under_xdg,
        ),
        // With no XDG_CONFIG_HOME (or a relative one): $HOME/.config.
        (
            &[][..],
            vec![("XDG_CONFIG_HOME", Path::new("relative"))],
            &under_home,
        ),
        (&explicit_args[..], vec![], &explicit),
    ] {
        let mut args = vec![url.as_str(), "--list", "--timeout", "30"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = call(&home.0, &args, &env);
        assert_eq!(code, Some(0), "{stdout} {stderr}");
        assert!(
            stderr.contains("warning")
                && stderr.contains(file.to_str().unwrap())
                && stderr.contains("0644"),
            "{file:?}: {stderr}"
        );
    }
    assert!(
        !relay.sent().contains("leaked-token"),
        "a refused file's token is not sent"
    );
    // In memory only: no file is read.
    let (code, stdout, stderr) = call(
        &home.0,
        &[&url, "--list", "--no-token-store", "--timeout", "30"],
        &[("XDG_CONFIG_HOME", xdg.as_path())],
    );
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn a_401_starts_a_sign_in_that_fails_by_name_without_an_authorization_server() {
    // An issuer where nothing listens: its metadata cannot be fetched.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let issuer = format!("http://{dead}");
    // The resource names the server's address, so the address is chosen first (a later
    // `--bind` wins over the harness's).
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let resource = format!("http://{addr}/mcp");
    let bind = addr.to_string();
    let server = Server::start(&[
        "--bind",
        &bind,
        "--resource",
        &resource,
        "--auth-issuer",
        &issuer,
    ]);
    let home = TempDir::new("sign-in");
    let secret = home.0.join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    for extra in [
        &["--no-browser"][..],
        &[
            "--client-id",
            "robot",
            "--client-secret-file",
            secret.to_str().unwrap(),
        ][..],
    ] {
        let mut args = vec![resource.as_str(), "--list", "--timeout", "30"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = call(&home.0, &args, &[]);
        assert_eq!(code, Some(1), "{extra:?}: {stdout} {stderr}");
        assert!(
            stderr.contains("OAuth authorization server metadata"),
            "{extra:?}: {stderr}"
        );
        assert!(
            !stderr.contains("Open this URL"),
            "no person was needed yet"
        );
    }
    assert!(
        !home.0.join("xdg").exists(),
        "nothing is stored when no token was got"
    );
    drop(server);
}
