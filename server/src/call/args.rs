//! `mcpwire call`'s command line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use mcpwire_smol::client::EraChoice;
use serde_json::Value as Json;

pub const USAGE: &str = "\
Usage: mcpwire call URL TOOL [ARGUMENTS] [OPTIONS]
       mcpwire call URL --list
       mcpwire call --stdio 'COMMAND ARGS' TOOL [ARGUMENTS] [OPTIONS]
       mcpwire call --stdio 'COMMAND ARGS' --list

Calls TOOL on the MCP server at URL (http://host:port/path, or https://) with ARGUMENTS, a
JSON object [default: {}], and prints the result as JSON. Progress goes to stderr. The exit
status is 0 for a result, 1 for a result with isError or a failed call, 2 for bad usage.

Options:
  --list              List the server's tools instead
  --stdio 'COMMAND ARGS'
                      Run the server as a child and speak to it over its stdin and stdout
                      (no URL then). The words are split as a shell would, quotes and
                      backslashes included, with nothing expanded. Its stderr is shown only
                      when it ends unasked; closing it is stdin closed, then SIGTERM to its
                      process group after 2 s, then SIGKILL after 2 s more
  --era ERA           auto (probe 2026-07-28, fall back to a session), modern or sessions
                      [default: auto]
  --timeout SECS      Give up after this long, a sign-in included [default: 60]
  --ca-file FILE      Trust the CA certificates of this PEM file for https://, beside
                      Mozilla's roots [default: none]
  --header NAME:VALUE Send this header field with every request, such as
                      \"authorization: Bearer TOKEN\" for a server with static tokens
                      (repeatable; an authorization field is replaced by OAuth's token if
                      the server refuses it)
  -h, --help          Print this help

OAuth 2.1 (when the server answers 401, the command signs in):
  By default a person signs in in the browser (authorization code with PKCE): the URL is
  printed and opened, and the browser comes back to http://127.0.0.1:PORT/callback, where
  the command listens only while it waits. Tokens are kept for the next run in a file only
  the user can read, one per server URL, under $XDG_CONFIG_HOME/mcpwire/tokens/ (else
  ~/.config/mcpwire/tokens/).
  --no-browser        Print the URL without opening a browser
  --redirect-port N   Listen for the redirect on this port, for an authorization server
                      that requires the registered redirect URI [default: any free port]
  --client-id ID      A client registered with the authorization server beforehand
                      (alone: a public client, signing in in the browser)
  --client-secret-file FILE
                      With --client-id: no person, client credentials with the secret in
                      FILE (its trailing newline is not part of it)
  --client-key-file FILE
                      With --client-id: no person, client credentials signed with this
                      private key (private_key_jwt; PEM: PKCS#8 for EC, PKCS#1 for RSA)
  --client-key-alg ALG
                      The key's algorithm: ES256, ES384, EdDSA, RS256, PS256, ...
                      [default: ES256]
  --client-issuer URL With --client-id: the authorization server the client is registered
                      with; its secret or key is used with that server only
                      [default: whichever the resource names]
  --client-metadata-url URL
                      This client's metadata document (an https:// URL), its client_id
                      where the authorization server accepts one
  --scope SCOPE       Ask for this scope (space-separated) [default: the server's]
  --token-file FILE   Keep the tokens in this file instead
  --no-token-store    Keep the tokens in memory only, for this run";

/// What `mcpwire call` was asked to do.
pub struct Call {
    /// The server's URL; empty with `--stdio`.
    pub url: String,
    /// `--stdio`: the program and its arguments.
    pub stdio: Option<Vec<String>>,
    pub tool: Option<String>,
    pub arguments: Json,
    pub era: EraChoice,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    /// `--header`, as (name in lowercase, value).
    pub headers: Vec<(String, String)>,
    pub sign_in: SignIn,
    pub scope: Option<String>,
    /// `--client-issuer`: the only issuer the configured client is used with.
    pub client_issuer: Option<String>,
    pub store: Store,
}

/// How the command gets a token when the server asks for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// A person, in the browser.
    Browser {
        /// A pre-registered public client.
        client_id: Option<String>,
        metadata_url: Option<String>,
        /// `None`: a free port, found when the command starts.
        redirect_port: Option<u16>,
        open_browser: bool,
    },
    /// Client credentials with a secret.
    Secret { client_id: String, secret: String },
    /// Client credentials with a signed assertion.
    Key {
        client_id: String,
        pem: Vec<u8>,
        algorithm: String,
    },
}

/// Where tokens are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// One file per server URL in mcpwire's directory.
    Default,
    File(PathBuf),
    Memory,
}

/// The OAuth options as given, before they are checked together.
#[derive(Default)]
struct OAuthOptions {
    client_id: Option<String>,
    secret_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    key_alg: Option<String>,
    metadata_url: Option<String>,
    redirect_port: Option<u16>,
    no_browser: bool,
    scope: Option<String>,
    client_issuer: Option<String>,
    token_file: Option<PathBuf>,
    no_token_store: bool,
}

/// Parses the arguments after `call`: `None` asks for the help.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Option<Call>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut positional = Vec::new();
    let mut list = false;
    let mut era = EraChoice::Auto;
    let mut timeout = Duration::from_secs(60);
    let mut ca_file = None;
    let mut headers = Vec::new();
    let mut stdio = None;
    let mut oauth = OAuthOptions::default();
    let text = |parser: &mut lexopt::Parser, flag: &str| -> Result<String, String> {
        parser
            .value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|v| format!("{flag}: not UTF-8: {v:?}"))
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("list") => list = true,
            Long("stdio") => {
                let flag = "--stdio";
                let words = split_words(&text(&mut parser, flag)?)
                    .map_err(|why| format!("{flag}: {why}"))?;
                if words.is_empty() {
                    return Err(format!("{flag} takes a command"));
                }
                once(&mut stdio, words, flag)?;
            }
            Long("era") => {
                let value = parser.value().map_err(|e| e.to_string())?;
                era = match value.to_str() {
                    Some("auto") => EraChoice::Auto,
                    Some("modern") => EraChoice::Modern,
                    Some("sessions") => EraChoice::Sessions,
                    _ => {
                        return Err(format!(
                            "--era takes auto, modern or sessions, not {value:?}"
                        ));
                    }
                };
            }
            Long("timeout") => {
                let value = parser.value().map_err(|e| e.to_string())?;
                let secs: u64 = value
                    .to_str()
                    .and_then(|v| v.parse().ok())
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("--timeout takes a number of seconds, not {value:?}"))?;
                timeout = Duration::from_secs(secs);
            }
            Long("ca-file") => {
                ca_file = Some(parser.value().map_err(|e| e.to_string())?.into());
            }
            Long("header") => headers.push(header(&text(&mut parser, "--header")?)?),
            Long("no-browser") => oauth.no_browser = true,
            Long("redirect-port") => {
                let value = text(&mut parser, "--redirect-port")?;
                let port = value
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| {
                        format!("--redirect-port takes a port, 1 to 65535, not {value:?}")
                    })?;
                once(&mut oauth.redirect_port, port, "--redirect-port")?;
            }
            Long("client-id") => {
                let id = text(&mut parser, "--client-id")?;
                if id.is_empty() || id.chars().any(char::is_control) {
                    return Err(format!("--client-id takes a client ID, not {id:?}"));
                }
                once(&mut oauth.client_id, id, "--client-id")?;
            }
            Long("client-secret-file") => {
                let flag = "--client-secret-file";
                once(
                    &mut oauth.secret_file,
                    text(&mut parser, flag)?.into(),
                    flag,
                )?;
            }
            Long("client-key-file") => {
                let flag = "--client-key-file";
                once(&mut oauth.key_file, text(&mut parser, flag)?.into(), flag)?;
            }
            Long("client-key-alg") => {
                let flag = "--client-key-alg";
                once(&mut oauth.key_alg, text(&mut parser, flag)?, flag)?;
            }
            Long("client-issuer") => {
                let flag = "--client-issuer";
                let url = text(&mut parser, flag)?;
                if mcpwire_core::client::auth::AuthUrl::parse(&url).is_err() {
                    return Err(format!("{flag} takes an http(s):// URL, not {url:?}"));
                }
                once(&mut oauth.client_issuer, url, flag)?;
            }
            Long("client-metadata-url") => {
                let flag = "--client-metadata-url";
                let url = text(&mut parser, flag)?;
                match mcpwire_core::client::auth::AuthUrl::parse(&url) {
                    Ok(parsed) if parsed.is_https() && parsed.path() != "/" => {}
                    _ => {
                        return Err(format!(
                            "{flag} takes an https:// URL with a path, not {url:?}"
                        ));
                    }
                }
                once(&mut oauth.metadata_url, url, flag)?;
            }
            Long("scope") => {
                let scope = text(&mut parser, "--scope")?;
                // RFC 6749 §3.3: scope tokens separated by single spaces.
                let valid = !scope.is_empty()
                    && scope.split(' ').all(|token| {
                        !token.is_empty()
                            && token.bytes().all(|b| {
                                b == 0x21
                                    || (0x23..=0x5b).contains(&b)
                                    || (0x5d..=0x7e).contains(&b)
                            })
                    });
                if !valid {
                    return Err(format!(
                        "--scope takes scope tokens separated by single spaces (visible ASCII, \
                         no '\"' or '\\'), not {scope:?}"
                    ));
                }
                once(&mut oauth.scope, scope, "--scope")?;
            }
            Long("token-file") => {
                let flag = "--token-file";
                once(&mut oauth.token_file, text(&mut parser, flag)?.into(), flag)?;
            }
            Long("no-token-store") => oauth.no_token_store = true,
            Value(value) => positional.push(
                value
                    .into_string()
                    .map_err(|v| format!("not UTF-8: {v:?}"))?,
            ),
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let mut positional = positional.into_iter();
    let url = match stdio {
        Some(_) => String::new(),
        None => positional.next().ok_or("a URL is required")?,
    };
    if stdio.is_some() {
        let http_only = [
            (ca_file.is_some(), "--ca-file"),
            (!headers.is_empty(), "--header"),
            (oauth.client_id.is_some(), "--client-id"),
            (oauth.token_file.is_some(), "--token-file"),
            (oauth.scope.is_some(), "--scope"),
        ];
        if let Some((_, flag)) = http_only.iter().find(|(given, _)| *given) {
            return Err(format!("{flag} is for a server at a URL, not --stdio"));
        }
    }
    let tool = positional.next();
    let arguments = match positional.next() {
        None => Json::Object(Default::default()),
        Some(json) => match serde_json::from_str::<Json>(&json) {
            Ok(value @ Json::Object(_)) => value,
            Ok(_) => return Err("ARGUMENTS must be a JSON object".into()),
            Err(e) => return Err(format!("ARGUMENTS is not JSON: {e}")),
        },
    };
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    if tool.is_none() && !list {
        return Err("a TOOL is required (or --list)".into());
    }
    let store = match (oauth.token_file.take(), oauth.no_token_store) {
        (Some(_), true) => {
            return Err("--token-file and --no-token-store cannot be combined".into());
        }
        (Some(file), false) => Store::File(file),
        (None, true) => Store::Memory,
        (None, false) => Store::Default,
    };
    let scope = oauth.scope.take();
    let client_issuer = oauth.client_issuer.take();
    if client_issuer.is_some() && oauth.client_id.is_none() {
        return Err("--client-issuer needs --client-id".into());
    }
    Ok(Some(Call {
        url,
        stdio,
        tool: if list { None } else { tool },
        arguments,
        era,
        timeout,
        ca_file,
        headers,
        sign_in: sign_in(oauth)?,
        scope,
        client_issuer,
        store,
    }))
}

/// `COMMAND ARGS` as a POSIX shell splits it into words: blanks separate, '...' keeps
/// everything, "..." keeps all but `\"`, `\\`, `\$` and `\``, and a backslash outside quotes
/// keeps the next character. Nothing is expanded.
fn split_words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("a quote ' is not closed"),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => current.push(c),
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err("a quote \" is not closed"),
                        },
                        Some(c) => current.push(c),
                        None => return Err("a quote \" is not closed"),
                    }
                }
            }
            '\\' => {
                let next = chars.next().ok_or("a backslash ends the command")?;
                word.get_or_insert_with(String::new).push(next);
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Sets an option that may be given once.
fn once<T>(slot: &mut Option<T>, value: T, flag: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{flag} may be given once"));
    }
    *slot = Some(value);
    Ok(())
}

/// Header fields the client writes itself: a second value would change the request's framing
/// or its MCP meaning.
const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "content-type",
    "accept",
    "last-event-id",
];

/// `NAME:VALUE`, checked: the name an HTTP token, the value without control characters (tab
/// aside), spaces around it dropped.
fn header(given: &str) -> Result<(String, String), String> {
    let Some((name, value)) = given.split_once(':') else {
        return Err(format!("--header takes NAME:VALUE, not {given:?}"));
    };
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(tchar) {
        return Err(format!(
            "--header: {name:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "--header {name}: the value holds a control character (CR, LF, NUL, ...)"
        ));
    }
    let name = name.to_ascii_lowercase();
    if RESERVED.contains(&name.as_str()) || name.starts_with("mcp-") {
        return Err(format!(
            "--header {name}: the client sets this field itself"
        ));
    }
    Ok((name, value.trim_matches([' ', '\t']).into()))
}

/// A file's text, its trailing line ending dropped; named by `flag` when it cannot be used.
fn read_secret(path: &PathBuf, flag: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{flag}: cannot read {}: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(format!("{flag}: {} is empty", path.display()));
    }
    Ok(secret.into())
}

/// The OAuth options, checked together.
fn sign_in(oauth: OAuthOptions) -> Result<SignIn, String> {
    let machine = match (&oauth.secret_file, &oauth.key_file) {
        (Some(_), Some(_)) => {
            return Err("--client-secret-file and --client-key-file cannot be combined".into());
        }
        (Some(_), None) => Some("--client-secret-file"),
        (None, Some(_)) => Some("--client-key-file"),
        (None, None) => None,
    };
    if oauth.key_alg.is_some() && oauth.key_file.is_none() {
        return Err("--client-key-alg needs --client-key-file".into());
    }
    let Some(machine) = machine else {
        return Ok(SignIn::Browser {
            client_id: oauth.client_id,
            metadata_url: oauth.metadata_url,
            redirect_port: oauth.redirect_port,
            open_browser: !oauth.no_browser,
        });
    };
    let Some(client_id) = oauth.client_id else {
        return Err(format!("{machine} needs --client-id"));
    };
    for (given, flag) in [
        (oauth.metadata_url.is_some(), "--client-metadata-url"),
        (oauth.redirect_port.is_some(), "--redirect-port"),
    ] {
        if given {
            return Err(format!(
                "{flag} is for signing in in the browser; {machine} uses client credentials"
            ));
        }
    }
    if let Some(file) = &oauth.secret_file {
        let secret = read_secret(file, "--client-secret-file")?;
        return Ok(SignIn::Secret { client_id, secret });
    }
    let file = oauth.key_file.unwrap_or_default();
    let pem = std::fs::read(&file)
        .map_err(|e| format!("--client-key-file: cannot read {}: {e}", file.display()))?;
    Ok(SignIn::Key {
        client_id,
        pem,
        algorithm: oauth.key_alg.unwrap_or_else(|| "ES256".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(list: &[&str]) -> Call {
        let mut all = vec!["http://127.0.0.1:1/mcp", "tool"];
        all.extend_from_slice(list);
        match parse(all.iter().map(Into::into)) {
            Ok(Some(call)) => call,
            Ok(None) => panic!("help"),
            Err(e) => panic!("{list:?}: {e}"),
        }
    }

    fn refused(list: &[&str]) -> String {
        let mut all = vec!["http://127.0.0.1:1/mcp", "tool"];
        all.extend_from_slice(list);
        match parse(all.iter().map(Into::into)) {
            Err(e) => e,
            Ok(_) => panic!("{list:?} refused"),
        }
    }

    /// A file in a directory of this test's own, removed with it.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &[u8]) -> TempFile {
            let dir =
                std::env::temp_dir().join(format!("mcpwire-call-{}-{name}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
        }
    }

    fn parsed(list: &[&str]) -> Result<Call, String> {
        parse(list.iter().map(Into::into)).map(|c| c.expect("not help"))
    }

    #[test]
    fn stdio_takes_a_command_instead_of_a_url() {
        let c = parsed(&[
            "--stdio",
            "node 'my server.mjs' --x \"a\\\"b\" c\\ d",
            "echo",
            "{}",
        ])
        .unwrap();
        assert_eq!(
            c.stdio.unwrap(),
            ["node", "my server.mjs", "--x", "a\"b", "c d"]
        );
        assert_eq!(c.tool.as_deref(), Some("echo"));
        assert!(c.url.is_empty());
        let listed = parsed(&[
            "--stdio",
            "python3 server.py",
            "--list",
            "--era",
            "sessions",
        ])
        .unwrap();
        assert!(listed.tool.is_none());
        assert_eq!(listed.era, EraChoice::Sessions);
        let refused = |list: &[&str]| parsed(list).err().unwrap();
        assert!(refused(&["--stdio", "", "echo"]).contains("takes a command"));
        assert!(refused(&["--stdio", "node 'x", "echo"]).contains("not closed"));
        assert!(refused(&["--stdio", "node", "--header", "a:b", "echo"]).contains("--header"));
        assert!(refused(&["--stdio", "a", "--stdio", "b", "echo"]).contains("once"));
        assert!(refused(&["--stdio", "node"]).contains("TOOL"));
    }

    #[test]
    fn no_flags_sign_in_in_the_browser_with_the_default_store() {
        let c = call(&[]);
        assert!(c.headers.is_empty());
        assert_eq!(
            c.sign_in,
            SignIn::Browser {
                client_id: None,
                metadata_url: None,
                redirect_port: None,
                open_browser: true
            }
        );
        assert_eq!(c.store, Store::Default);
        assert_eq!(c.scope, None);
    }

    #[test]
    fn headers_are_repeatable_and_trimmed() {
        let c = call(&[
            "--header",
            "Authorization: Bearer abc",
            "--header=X-Api-Key:k1",
            "--header",
            "x-empty:",
        ]);
        assert_eq!(
            c.headers,
            [
                ("authorization".to_string(), "Bearer abc".to_string()),
                ("x-api-key".into(), "k1".into()),
                ("x-empty".into(), String::new()),
            ]
        );
    }

    #[test]
    fn a_malformed_header_is_refused_by_name() {
        for (bad, says) in [
            ("no-colon", "takes NAME:VALUE"),
            (":value", "is not a header name"),
            ("bad name:v", "is not a header name"),
            ("x-a:one\r\nx-b: two", "control character"),
            ("x-a:one\ntwo", "control character"),
            ("x-a:nul\0", "control character"),
            ("x-a\r:v", "is not a header name"),
            ("Content-Length: 5", "sets this field itself"),
            ("mcp-session-id: s", "sets this field itself"),
            ("Host: evil.example", "sets this field itself"),
        ] {
            let e = refused(&["--header", bad]);
            assert!(
                e.starts_with("--header") && e.contains(says),
                "{bad:?}: {e}"
            );
        }
        let e = refused(&["--header"]);
        assert!(e.contains("--header"), "{e}");
        // A tab inside a value is allowed (RFC 9110 field-value).
        assert_eq!(call(&["--header", "x-a:b\tc"]).headers[0].1, "b\tc");
    }

    #[test]
    fn browser_options() {
        let c = call(&[
            "--no-browser",
            "--redirect-port",
            "8976",
            "--client-id",
            "public-app",
            "--client-metadata-url",
            "https://app.example/client.json",
            "--scope",
            "mcp:tools mcp:read",
        ]);
        assert_eq!(
            c.sign_in,
            SignIn::Browser {
                client_id: Some("public-app".into()),
                metadata_url: Some("https://app.example/client.json".into()),
                redirect_port: Some(8976),
                open_browser: false
            }
        );
        assert_eq!(c.scope.as_deref(), Some("mcp:tools mcp:read"));
        let c = call(&[
            "--client-id",
            "app",
            "--client-issuer",
            "https://as.example",
        ]);
        assert_eq!(c.client_issuer.as_deref(), Some("https://as.example"));
        assert!(refused(&["--client-issuer", "https://as.example"]).contains("needs --client-id"));
        assert!(
            refused(&["--client-id", "a", "--client-issuer", "as.example"])
                .contains("--client-issuer takes")
        );
        assert!(matches!(
            call(&["--redirect-port", "65535"]).sign_in,
            SignIn::Browser {
                redirect_port: Some(65535),
                ..
            }
        ));
    }

    #[test]
    fn bad_browser_options_are_named() {
        for (list, says) in [
            (
                &["--redirect-port", "0"][..],
                "--redirect-port takes a port",
            ),
            (
                &["--redirect-port", "65536"],
                "--redirect-port takes a port",
            ),
            (&["--redirect-port", "x"], "--redirect-port takes a port"),
            (
                &["--redirect-port", "1", "--redirect-port", "2"],
                "--redirect-port may be given once",
            ),
            (
                &["--client-metadata-url", "http://app.example/c.json"],
                "--client-metadata-url takes an https:// URL",
            ),
            (
                &["--client-metadata-url", "https://app.example"],
                "--client-metadata-url takes an https:// URL",
            ),
            (&["--client-id", ""], "--client-id takes"),
            (&["--scope", ""], "--scope takes"),
            (&["--scope", "a  b"], "--scope takes"),
            (&["--scope", "a\"b"], "--scope takes"),
            (&["--scope", "a\nb"], "--scope takes"),
        ] {
            let e = refused(list);
            assert!(e.contains(says), "{list:?}: {e}");
        }
    }

    #[test]
    fn a_secret_file_gives_client_credentials() {
        let secret = TempFile::new("secret", b"s3cret\n");
        let c = call(&[
            "--client-id",
            "robot",
            "--client-secret-file",
            secret.path(),
            "--scope",
            "mcp",
        ]);
        assert_eq!(
            c.sign_in,
            SignIn::Secret {
                client_id: "robot".into(),
                secret: "s3cret".into()
            }
        );
        let empty = TempFile::new("empty", b"\r\n");
        for (file, says) in [
            (empty.path(), "is empty"),
            ("/nonexistent/secret", "cannot read"),
        ] {
            let e = refused(&["--client-id", "r", "--client-secret-file", file]);
            assert!(
                e.starts_with("--client-secret-file") && e.contains(says),
                "{e}"
            );
        }
    }

    #[test]
    fn a_key_file_gives_a_signed_assertion() {
        let key = TempFile::new("key.pem", b"-----BEGIN PRIVATE KEY-----\n");
        let c = call(&["--client-id", "robot", "--client-key-file", key.path()]);
        assert_eq!(
            c.sign_in,
            SignIn::Key {
                client_id: "robot".into(),
                pem: b"-----BEGIN PRIVATE KEY-----\n".to_vec(),
                algorithm: "ES256".into()
            }
        );
        let c = call(&[
            "--client-id",
            "robot",
            "--client-key-file",
            key.path(),
            "--client-key-alg",
            "RS256",
        ]);
        assert!(matches!(c.sign_in, SignIn::Key { algorithm, .. } if algorithm == "RS256"));
        let e = refused(&[
            "--client-id",
            "r",
            "--client-key-file",
            "/nonexistent/key.pem",
        ]);
        assert!(e.starts_with("--client-key-file: cannot read"), "{e}");
    }

    #[test]
    fn client_credentials_options_are_checked_together() {
        let file = TempFile::new("both", b"x");
        let f = file.path();
        for (list, says) in [
            (
                &["--client-secret-file", f][..],
                "--client-secret-file needs --client-id",
            ),
            (
                &["--client-key-file", f],
                "--client-key-file needs --client-id",
            ),
            (
                &["--client-id", "r", "--client-key-alg", "ES256"],
                "--client-key-alg needs --client-key-file",
            ),
            (
                &[
                    "--client-id",
                    "r",
                    "--client-secret-file",
                    f,
                    "--client-key-file",
                    f,
                ],
                "cannot be combined",
            ),
            (
                &[
                    "--client-id",
                    "r",
                    "--client-secret-file",
                    f,
                    "--redirect-port",
                    "8976",
                ],
                "--redirect-port is for signing in in the browser",
            ),
            (
                &[
                    "--client-id",
                    "r",
                    "--client-key-file",
                    f,
                    "--client-metadata-url",
                    "https://app.example/c.json",
                ],
                "--client-metadata-url is for signing in in the browser",
            ),
            (
                &["--client-id", "a", "--client-id", "b"],
                "--client-id may be given once",
            ),
        ] {
            let e = refused(list);
            assert!(e.contains(says), "{list:?}: {e}");
        }
    }

    #[test]
    fn where_tokens_are_kept() {
        assert_eq!(
            call(&["--token-file", "/tmp/t.json"]).store,
            Store::File("/tmp/t.json".into())
        );
        assert_eq!(call(&["--no-token-store"]).store, Store::Memory);
        let e = refused(&["--token-file", "t.json", "--no-token-store"]);
        assert!(e.contains("--token-file and --no-token-store"), "{e}");
        let e = refused(&["--token-file"]);
        assert!(e.contains("--token-file"), "{e}");
    }

    #[test]
    fn the_help_names_every_flag() {
        for flag in [
            "--list",
            "--era",
            "--timeout",
            "--ca-file",
            "--header",
            "--no-browser",
            "--redirect-port",
            "--client-id",
            "--client-secret-file",
            "--client-key-file",
            "--client-key-alg",
            "--client-metadata-url",
            "--scope",
            "--token-file",
            "--no-token-store",
        ] {
            assert!(USAGE.contains(flag), "{flag}");
        }
    }
}
