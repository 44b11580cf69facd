//! The MCP requests the generator sends, as prepared bytes, and the exchanges built from them:
//! opening a session (`initialize`, `notifications/initialized`), calling a tool, opening the
//! standalone GET stream.

use std::io;
use std::net::SocketAddr;

use crate::client::{Conn, Head, contains};

const PROTOCOL_VERSION: &str = "2025-11-25";
const STATELESS: &str = "2026-07-28";
/// What every 2026-07-28 request declares.
const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"mcpwire-bench","version":"1.0.0"}}"#;

/// Builds request bytes for one server.
#[derive(Clone)]
pub struct Requests {
    host: String,
    /// `Authorization: Bearer <token>` on every stateless request, when set.
    bearer: Option<std::sync::Arc<str>>,
    /// The name of `echo`'s one argument (`mcpwire serve`'s demo tool calls it `text`).
    echo_argument: &'static str,
}

fn check(head: &Head, body: &[u8], what: &str) -> io::Result<()> {
    if head.status != 200 || !contains(body, b"\"result\"") {
        return Err(io::Error::other(format!(
            "{what}: status {} body {}",
            head.status,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )));
    }
    Ok(())
}

impl Requests {
    pub fn new(address: SocketAddr) -> Requests {
        Requests {
            host: address.to_string(),
            bearer: None,
            echo_argument: "message",
        }
    }

    /// The same requests, each stateless one carrying `token` as its bearer credential.
    pub fn with_bearer(mut self, token: Option<std::sync::Arc<str>>) -> Requests {
        self.bearer = token;
        self
    }

    /// The same requests, `echo`'s argument named `name`.
    pub fn with_echo_argument(mut self, name: &'static str) -> Requests {
        self.echo_argument = name;
        self
    }

    pub fn post(&self, session: Option<&str>, body: &str) -> Vec<u8> {
        let mut request = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(session) = session {
            request.push_str("Mcp-Session-Id: ");
            request.push_str(session);
            request.push_str("\r\nMcp-Protocol-Version: ");
            request.push_str(PROTOCOL_VERSION);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        request.into_bytes()
    }

    pub fn get_stream(&self, session: &str) -> Vec<u8> {
        format!(
            "GET /mcp HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\
             Mcp-Session-Id: {session}\r\nMcp-Protocol-Version: {PROTOCOL_VERSION}\r\n\r\n",
            self.host
        )
        .into_bytes()
    }

    pub fn echo(&self, session: Option<&str>, id: u64, message: &str) -> Vec<u8> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"{message}"}}}}}}"#
        );
        self.post(session, &body)
    }

    /// `initialize` and `notifications/initialized`; returns the session id.
    pub async fn open_session(&self, conn: &mut Conn) -> io::Result<String> {
        let initialize = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"mcpwire-bench","version":"1.0.0"}}}}}}"#
        );
        let (head, body) = conn.exchange(&self.post(None, &initialize)).await?;
        check(&head, &body, "initialize")?;
        let session = head
            .session_id
            .ok_or_else(|| io::Error::other("initialize: no Mcp-Session-Id"))?;
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let (head, _) = conn
            .exchange(&self.post(Some(&session), initialized))
            .await?;
        if head.status != 202 && head.status != 200 {
            return Err(io::Error::other(format!(
                "notifications/initialized: status {}",
                head.status
            )));
        }
        Ok(session)
    }

    pub async fn call_echo(
        &self,
        conn: &mut Conn,
        session: Option<&str>,
        id: u64,
        message: &str,
    ) -> io::Result<()> {
        let (head, body) = conn.exchange(&self.echo(session, id, message)).await?;
        check(&head, &body, "tools/call echo")
    }

    pub async fn call_broadcast(&self, conn: &mut Conn, session: &str) -> io::Result<Vec<u8>> {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"broadcast","arguments":{}}}"#;
        let (head, body) = conn.exchange(&self.post(Some(session), body)).await?;
        check(&head, &body, "tools/call broadcast")?;
        Ok(body)
    }

    /// A 2026-07-28 request: the version and method (and name) headers, no session.
    pub fn stateless(&self, method: &str, name: Option<&str>, body: &str) -> Vec<u8> {
        let mut request = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {STATELESS}\r\n\
             Mcp-Method: {method}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(name) = name {
            request.push_str("Mcp-Name: ");
            request.push_str(name);
            request.push_str("\r\n");
        }
        if let Some(token) = &self.bearer {
            request.push_str("Authorization: Bearer ");
            request.push_str(token);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        request.into_bytes()
    }

    /// A stateless `tools/call` of `echo`, its context in `_meta`.
    pub async fn call_echo_stateless(
        &self,
        conn: &mut Conn,
        id: u64,
        message: &str,
    ) -> io::Result<()> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"{argument}":"{message}"}},{META}}}}}"#,
            argument = self.echo_argument
        );
        let (head, body) = conn
            .exchange(&self.stateless("tools/call", Some("echo"), &body))
            .await?;
        check(&head, &body, "stateless tools/call echo")
    }

    /// A stateless `tools/call` of `broadcast`.
    pub async fn call_broadcast_stateless(&self, conn: &mut Conn) -> io::Result<Vec<u8>> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"broadcast","arguments":{{}},{META}}}}}"#
        );
        let (head, body) = conn
            .exchange(&self.stateless("tools/call", Some("broadcast"), &body))
            .await?;
        check(&head, &body, "stateless tools/call broadcast")?;
        Ok(body)
    }

    /// A `ping` on the session; returns once answered.
    pub async fn ping(&self, conn: &mut Conn, session: &str, id: u64) -> io::Result<()> {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        let (head, body) = conn.exchange(&self.post(Some(session), &body)).await?;
        check(&head, &body, "ping")
    }

    /// Sends a `spin` call for `millis` without waiting for its answer.
    pub async fn start_spin(&self, conn: &mut Conn, session: &str, millis: u64) -> io::Result<()> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"spin","arguments":{{"millis":{millis}}}}}}}"#
        );
        conn.send(&self.post(Some(session), &body)).await
    }

    /// Sends `subscriptions/listen` for tool list changes and waits for its head: the stream
    /// is then open on the server.
    pub async fn open_listen(&self, conn: &mut Conn, id: u64) -> io::Result<()> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"subscriptions/listen","params":{{{META},"notifications":{{"toolsListChanged":true}}}}}}"#
        );
        conn.send(&self.stateless("subscriptions/listen", None, &body))
            .await?;
        let head = conn.read_head().await?;
        if head.status != 200 {
            return Err(io::Error::other(format!(
                "subscriptions/listen: status {}",
                head.status
            )));
        }
        Ok(())
    }

    /// Sends the GET and waits for its head: the stream is then open on the server.
    pub async fn open_stream(&self, conn: &mut Conn, session: &str) -> io::Result<()> {
        conn.send(&self.get_stream(session)).await?;
        let head = conn.read_head().await?;
        if head.status != 200 {
            return Err(io::Error::other(format!(
                "GET stream: status {}",
                head.status
            )));
        }
        Ok(())
    }
}

/// A session that called `echo` once (so that every peer has registered it for broadcasts)
/// and holds a standalone GET stream on its own connection.
pub async fn session_with_stream(
    address: SocketAddr,
    requests: &Requests,
) -> io::Result<(String, Conn)> {
    let mut conn = Conn::connect(address).await?;
    let session = requests.open_session(&mut conn).await?;
    requests
        .call_echo(&mut conn, Some(&session), 1, "hello")
        .await?;
    requests.open_stream(&mut conn, &session).await?;
    Ok((session, conn))
}
