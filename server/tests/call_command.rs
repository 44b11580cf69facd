//! `mcpwire call` against `mcpwire serve`: a tool whose schema asks for an `Mcp-Param-*`
//! header field is called in 2026-07-28 (the listing teaches the client the field), the same
//! call goes through a session, and bad usage exits 2.

mod common;

use std::process::Command;

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
