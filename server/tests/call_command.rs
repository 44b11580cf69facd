//! `mcpwire call` against `mcpwire serve`: a tool whose schema asks for an `Mcp-Param-*`
//! header field is called in 2026-07-28 (the listing teaches the client the field), the same
//! call goes through a session, bad usage exits 2, a silent server meets the one deadline of
//! `--timeout`, a server offering no version mcpwire speaks is refused by name, and a closed
//! stdout is not a crash; over HTTPS, `--ca-file` trusts the test's CA, and without it the
//! call fails with the reason.

#[path = "../../adapters/smol/tests/common/certs.rs"]
mod certs;
mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Server;

fn mcpwire_call(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
        .arg("call")
        .args(args)
        .output()
        .expect("mcpwire runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_tool_that_needs_a_param_header_is_called_in_both_eras() {
    let server = Server::start(&[]);
    let url = format!("http://{}/mcp", server.addr);
    for era in ["modern", "sessions"] {
        let (code, stdout, stderr) = mcpwire_call(&[
            &url,
            "test_header_param",
            r#"{"region":"us-west1"}"#,
            "--era",
            era,
            "--timeout",
            "30",
        ]);
        assert_eq!(code, Some(0), "{era}: {stdout} {stderr}");
        let result: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
        assert_eq!(result["content"][0]["text"], "Ran in us-west1", "{era}");
    }
}

#[test]
fn a_tool_is_called_over_https_with_the_ca_file_in_both_eras() {
    let pki = certs::TestPki::new();
    let files = pki.write("call-over-https");
    let (cert, key) = (files.cert.to_str().unwrap(), files.key.to_str().unwrap());
    let server = Server::start(&["--tls-cert", cert, "--tls-key", key]);
    let url = format!("https://{}/mcp", server.addr);
    let ca = files.ca.to_str().unwrap();
    for era in ["modern", "sessions"] {
        let (code, stdout, stderr) = mcpwire_call(&[
            &url,
            "test_header_param",
            r#"{"region":"us-west1"}"#,
            "--era",
            era,
            "--ca-file",
            ca,
            "--timeout",
            "30",
        ]);
        assert_eq!(code, Some(0), "{era}: {stdout} {stderr}");
        let result: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
        assert_eq!(result["content"][0]["text"], "Ran in us-west1", "{era}");
    }
    // Without the CA: the certificate is not trusted, said at once.
    let (code, stdout, stderr) = mcpwire_call(&[&url, "test_header_param", "--timeout", "30"]);
    assert_eq!(code, Some(1), "{stdout} {stderr}");
    assert!(stderr.contains("certificate is not trusted"), "{stderr}");
    // A CA file that is not one is bad usage, named.
    let (code, _, stderr) = mcpwire_call(&[&url, "t", "--ca-file", key]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--ca-file") && stderr.contains("no CERTIFICATE"),
        "{stderr}"
    );
}

#[test]
fn serve_names_a_tls_file_it_cannot_use() {
    let pki = certs::TestPki::new();
    let files = pki.write("serve-bad-tls");
    let missing = files.cert.with_file_name("missing.pem");
    for (cert, key, reason) in [
        (&missing, &files.key, "cannot read it"),
        (&files.cert, &files.cert, "no private key"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
            .args(["serve", "--bind", "127.0.0.1:0", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .expect("mcpwire runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(reason), "{stderr}");
        let named = if reason == "cannot read it" {
            cert
        } else {
            key
        };
        assert!(stderr.contains(named.to_str().unwrap()), "{stderr}");
    }
}

#[test]
fn bad_usage_exits_2_with_the_reason() {
    for (args, reason) in [
        (&["http://127.0.0.1:1/mcp"][..], "a TOOL is required"),
        (
            &["http://127.0.0.1:1/mcp", "t", "[1]"][..],
            "must be a JSON object",
        ),
        (
            &["http://127.0.0.1:1/mcp", "t", "--era", "x"][..],
            "--era takes",
        ),
    ] {
        let (code, _, stderr) = mcpwire_call(args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
    }
}

/// Answers `server/discover`, listing 2026-07-28; holds every other request forever (until
/// the test ends).
fn discover_then_silence() -> std::net::SocketAddr {
    discover_offering_then_silence(&["2026-07-28"])
}

/// Answers `server/discover` with `versions` as its `supportedVersions`; holds every other
/// request forever (until the test ends).
fn discover_offering_then_silence(versions: &[&str]) -> std::net::SocketAddr {
    let versions: Vec<String> = versions.iter().map(|v| (*v).to_string()).collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let versions = versions.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let length = head
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() < length {
                        continue;
                    }
                    if body.contains("server/discover") {
                        let id = serde_json::from_str::<serde_json::Value>(&body[..length])
                            .unwrap()["id"]
                            .clone();
                        let answer = serde_json::json!({"jsonrpc":"2.0","id":id,"result":{"supportedVersions":versions,"capabilities":{"tools":{}},"serverInfo":{"name":"silent","version":"1"}}}).to_string();
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        let _ = stream.write_all(response.as_bytes());
                        buf.clear();
                        continue;
                    }
                    // Anything else: never answered.
                    std::thread::sleep(Duration::from_secs(30));
                    return;
                }
            });
        }
    });
    addr
}

#[test]
fn a_silent_server_meets_the_one_deadline_of_timeout() {
    let addr = discover_then_silence();
    let url = format!("http://{addr}/mcp");
    let (code, stdout, stderr) =
        mcpwire_call(&[&url, "anything", "--era", "modern", "--timeout", "2"]);
    assert_eq!(code, Some(1), "{stdout} {stderr}");
    // The whole command's deadline, not the listing's or the call's own timeout after it.
    assert!(stderr.contains("no answer within 2 s"), "{stderr}");
}

/// A server whose `server/discover` lists only versions mcpwire does not speak: the call
/// fails at once and says what the server offered (it is not sent in 2026-07-28 anyway).
#[test]
fn a_server_offering_no_version_mcpwire_speaks_is_refused_by_name() {
    let addr = discover_offering_then_silence(&["1999-01-01"]);
    let url = format!("http://{addr}/mcp");
    let (code, stdout, stderr) = mcpwire_call(&[&url, "anything", "--timeout", "20"]);
    assert_eq!(code, Some(1), "{stdout} {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("\"1999-01-01\""), "{stderr}");
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let server = Server::start(&[]);
    let url = format!("http://{}/mcp", server.addr);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpwire"))
        .args(["call", &url, "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mcpwire runs");
    drop(child.stdout.take());
    let status = child.wait().expect("it ends");
    assert_eq!(status.code(), Some(0), "as `| head -c0` would see it");
}
