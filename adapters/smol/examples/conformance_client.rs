//! A client for the official MCP conformance suite's client scenarios
//! (`conformance client --command "conformance_client"`), on `mcpwire_smol::Client`.
//!
//! The suite runs it with the server URL as its last argument and the scenario in
//! `MCP_CONFORMANCE_SCENARIO`; `MCP_CONFORMANCE_PROTOCOL_VERSION` picks the era (2026-07-28:
//! stateless; otherwise a session asking for that version), and `MCP_CONFORMANCE_CONTEXT`
//! carries scenario data. It exits 0 once the scenario's calls are made, 1 on any failure.
//!
//! The `auth/*` scenarios sign in with OAuth: the suite's authorization server redirects at
//! once, so the person's part is a `GET` of the authorization URL whose `Location` is the
//! redirect (never followed: the redirect URI is nobody's).

use std::process::ExitCode;

use mcpwire_smol::client::oauth::{ClientCredentials, OAuthConfig};
use mcpwire_smol::client::{Client, ClientBuilder, ClientError, EraChoice};
use serde_json::{Map, Value, json};

/// An elicitation answered by accepting with each field's default (or a plain value of its
/// type when it has none), as a form a user submitted untouched would be.
async fn accept_with_defaults(request: Value) -> Result<Value, mcpwire_smol::client::ErrorObject> {
    let mut content = Map::new();
    if let Some(Value::Object(properties)) = request["requestedSchema"].get("properties") {
        for (name, schema) in properties {
            let value = match (schema.get("default"), schema["type"].as_str()) {
                (Some(default), _) => default.clone(),
                (None, Some("boolean")) => json!(true),
                (None, Some("integer" | "number")) => json!(0),
                (None, _) => match schema.get("enum").and_then(|e| e.get(0)) {
                    Some(first) => first.clone(),
                    None => json!(""),
                },
            };
            content.insert(name.clone(), value);
        }
    }
    Ok(json!({"action": "accept", "content": content}))
}

fn first(list: &Value, key: &str) -> Option<Value> {
    list[key]
        .as_array()
        .and_then(|items| items.first())
        .cloned()
}

/// Where the suite's authorization server sends the browser: the `Location` of a `GET` of
/// `url` (plain HTTP on loopback, as the suite serves it). Only the head is read, at most
/// 16 KiB of it.
async fn follow_once(url: String) -> Result<String, String> {
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").ok_or("not an http:// URL")?;
    let (authority, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = smol::net::TcpStream::connect(authority)
        .await
        .map_err(|e| e.to_string())?;
    let request =
        format!("GET {target} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err("the authorization endpoint sent no whole response head".into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_string())
        })
        .ok_or_else(|| "the authorization endpoint did not redirect".into())
}

/// The OAuth of an `auth/*` scenario, from its context.
fn oauth(
    builder: ClientBuilder,
    name: &str,
    context: &Value,
) -> Result<ClientBuilder, ClientError> {
    let text = |key: &str| context[key].as_str().map(String::from);
    let client = text("client_id").map(|client_id| ClientCredentials {
        client_id,
        client_secret: text("client_secret"),
        key: context.get("private_key_pem").is_some(),
        issuer: text("issuer"),
    });
    let builder = match name {
        "auth/client-credentials-basic" | "auth/client-credentials-jwt" => {
            let Some(client) = client else {
                return Err(ClientError::Url("the scenario's context has no client_id"));
            };
            let builder = builder.oauth(OAuthConfig::client_credentials(client));
            match text("private_key_pem") {
                Some(pem) => {
                    let algorithm = text("signing_algorithm").unwrap_or_else(|| "ES256".into());
                    builder.oauth_client_key(pem.as_bytes(), &algorithm)?
                }
                None => builder,
            }
        }
        _ => {
            let mut config = OAuthConfig::authorization_code(
                "http://localhost:3000/callback",
                "mcpwire-conformance-client",
            );
            config.client_metadata_url =
                Some("https://conformance-test.local/client-metadata.json".into());
            config.client = client;
            builder.oauth(config).on_authorize(follow_once)
        }
    };
    Ok(builder)
}

async fn scenario(client: &Client, name: &str, context: &Value) -> Result<(), ClientError> {
    match name {
        auth if auth.starts_with("auth/") => {
            client.list_tools().await?;
            client.call_tool("test-tool", json!({})).await?;
        }
        "initialize" | "request-metadata" | "json-schema-ref-no-deref" => {
            client.list_tools().await?;
        }
        "tools_call" => {
            let tools = client.list_tools().await?;
            if let Some(tool) = first(&tools, "tools") {
                let name = tool["name"].as_str().unwrap_or_default();
                client.call_tool(name, json!({"a": 2, "b": 3})).await?;
            }
        }
        "elicitation-sep1034-client-defaults" => {
            client.list_tools().await?;
            client
                .call_tool("test_client_elicitation_defaults", json!({}))
                .await?;
        }
        "sse-retry" => {
            client.list_tools().await?;
            client.call_tool("test_reconnection", json!({})).await?;
        }
        "http-standard-headers" => {
            let tools = client.list_tools().await?;
            if let Some(tool) = first(&tools, "tools") {
                client
                    .call_tool(tool["name"].as_str().unwrap_or_default(), json!({}))
                    .await?;
            }
            let resources = client.list_resources().await?;
            if let Some(resource) = first(&resources, "resources") {
                client
                    .read_resource(resource["uri"].as_str().unwrap_or_default())
                    .await?;
            }
            let prompts = client.list_prompts().await?;
            if let Some(prompt) = first(&prompts, "prompts") {
                client
                    .get_prompt(prompt["name"].as_str().unwrap_or_default(), json!({}))
                    .await?;
            }
        }
        "http-custom-headers" => {
            client.list_tools().await?;
            for call in context["toolCalls"].as_array().into_iter().flatten() {
                let name = call["name"].as_str().unwrap_or_default();
                client.call_tool(name, call["arguments"].clone()).await?;
            }
        }
        "http-invalid-tool-headers" => {
            // Tools with invalid annotations are already left out of the list.
            let tools = client.list_tools().await?;
            for tool in tools["tools"].as_array().into_iter().flatten() {
                let name = tool["name"].as_str().unwrap_or_default();
                let _ = client.call_tool(name, json!({"region": "us-west1"})).await;
            }
        }
        "sep-2322-client-request-state" => {
            let tools = client.list_tools().await?;
            for tool in tools["tools"].as_array().into_iter().flatten() {
                let name = tool["name"].as_str().unwrap_or_default();
                client.call_tool(name, json!({})).await?;
            }
        }
        "json-schema-2020-12-preservation" => {
            let tools = client.list_tools().await?;
            let schema = tools["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["name"] == "json_schema_2020_12_tool")
                .map(|t| t["inputSchema"].clone())
                .unwrap_or(Value::Null);
            client
                .call_tool("json_schema_echo", json!({"schema": schema}))
                .await?;
        }
        other => {
            eprintln!("conformance_client: unknown scenario {other:?}");
            return Err(ClientError::Url("unknown scenario"));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(url) = std::env::args()
        .next_back()
        .filter(|a| a.starts_with("http"))
    else {
        eprintln!("usage: conformance_client URL (scenario in MCP_CONFORMANCE_SCENARIO)");
        return ExitCode::from(2);
    };
    let name = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let version =
        std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").unwrap_or_else(|_| "2025-11-25".into());
    let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or(Value::Null);
    let era = if version == "2026-07-28" {
        EraChoice::Modern
    } else {
        EraChoice::Sessions
    };
    let outcome = smol::block_on(async {
        let mut builder = Client::builder(&url)?;
        if name.starts_with("auth/") {
            builder = oauth(builder, &name, &context)?;
        }
        let client = builder
            .name("mcpwire-conformance-client", "1.0.0")
            .era(era)
            .session_version(&version)
            .on_elicitation(accept_with_defaults)
            .request_timeout(std::time::Duration::from_secs(20))
            .reconnect_timeout(std::time::Duration::from_secs(20))
            .connect()
            .await?;
        let outcome = scenario(&client, &name, &context).await;
        client.close().await;
        outcome
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("conformance_client: {name}: {error}");
            ExitCode::FAILURE
        }
    }
}
