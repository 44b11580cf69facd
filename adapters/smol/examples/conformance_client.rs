//! A client for the official MCP conformance suite's client scenarios
//! (`conformance client --command "conformance_client"`), on `mcpwire_smol::Client`.
//!
//! The suite runs it with the server URL as its last argument and the scenario in
//! `MCP_CONFORMANCE_SCENARIO`; `MCP_CONFORMANCE_PROTOCOL_VERSION` picks the era (2026-07-28:
//! stateless; otherwise a session asking for that version), and `MCP_CONFORMANCE_CONTEXT`
//! carries scenario data. It exits 0 once the scenario's calls are made, 1 on any failure.

use std::process::ExitCode;

use mcpwire_smol::client::{Client, ClientError, EraChoice};
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

async fn scenario(client: &Client, name: &str, context: &Value) -> Result<(), ClientError> {
    match name {
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
        let client = Client::builder(&url)?
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
