//! What the `mcpwire` binary serves: every fixture the MCP conformance suite calls (names,
//! texts and schemas as its reference server has them), and a few demo tools that exercise
//! progress, cancellation, logging and resource updates.

use std::time::Duration;

use mcpwire_smol::{
    App, Completion, CompletionRef, Content, Context, Error, LogLevel, NoArgs, Prompt,
    PromptMessage, PromptResult, Resource, ResourceContents, ResourceTemplate, Tool, ToolResult,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// A 1x1 PNG.
const IMAGE_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal PCM WAV.
const AUDIO_WAV: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// An elicitation result, as the reference server reports it.
fn describe(result: &serde_json::Value) -> String {
    let action = result["action"].as_str().unwrap_or("?");
    format!("action={action}, content={}", result["content"])
}

async fn sleep(millis: u64) {
    smol::Timer::after(Duration::from_millis(millis)).await;
}

/// The server's application.
pub fn app() -> App {
    let builder = App::builder("mcpwire", env!("CARGO_PKG_VERSION"))
        .title("mcpwire demo and conformance server")
        .instructions("Demo tools (echo, add, sleep, flood, generate, touch_resource, announce_list_changed) and the MCP conformance fixtures.");
    let builder = demo_tools(builder);
    let builder = conformance_tools(builder);
    let builder = elicitation_tools(builder);
    let builder = stateless_tools(builder);
    let builder = crate::input_fixtures::tools(builder);
    let builder = crate::input_fixtures::prompts(builder);
    let builder = resources(builder);
    prompts(builder)
        .completion(|request, _cx| async move {
            let suggestions: &[&str] = match (&request.reference, request.argument.as_str()) {
                (CompletionRef::Prompt(name), "arg1" | "arg2")
                    if name == "test_prompt_with_arguments" =>
                {
                    &["test", "testValue1", "testValue2", "example"]
                }
                _ => &[],
            };
            let values: Vec<String> = suggestions
                .iter()
                .filter(|s| s.starts_with(&request.value))
                .map(|s| (*s).to_string())
                .collect();
            Ok(Completion {
                total: Some(values.len() as u64),
                values,
                has_more: false,
            })
        })
        .build()
}

#[derive(Deserialize, JsonSchema)]
struct Echo {
    /// The text to send back.
    text: String,
}

#[derive(Deserialize, JsonSchema)]
struct Add {
    /// The first term.
    a: f64,
    /// The second term.
    b: f64,
}

#[derive(Deserialize, JsonSchema)]
struct Sleep {
    /// How long to work, in milliseconds (at most 10 minutes).
    millis: u64,
}

#[derive(Deserialize, JsonSchema)]
struct Flood {
    /// How many log messages to send.
    count: u32,
    /// The size of each, in bytes (at most 1 MiB).
    size: usize,
}

/// Which list a client should fetch again.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum ListKind {
    Tools,
    Resources,
    Prompts,
}

#[derive(Deserialize, JsonSchema)]
struct ListChanged {
    /// The list that changed.
    list: ListKind,
    /// How many times to send it (1 by default; at most 1,000,000).
    times: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
struct Generate {
    /// How many bytes of text to answer with (at most 64 MiB).
    bytes: usize,
}

#[derive(Deserialize, JsonSchema)]
struct Touch {
    /// The resource whose subscribers hear of an update.
    uri: String,
}

fn demo_tools(builder: mcpwire_smol::AppBuilder) -> mcpwire_smol::AppBuilder {
    builder
        .tool(
            Tool::new("echo", |args: Echo, _cx: Context| async move {
                Ok(ToolResult::text(args.text))
            })
            .description("Sends the text back")
            .annotations(json!({ "readOnlyHint": true })),
        )
        .tool(
            Tool::new("add", |args: Add, _cx: Context| async move {
                let sum = args.a + args.b;
                Ok(ToolResult::text(sum.to_string()).with_structured(json!({ "sum": sum })))
            })
            .description("Adds two numbers")
            .output_schema(json!({
                "type": "object",
                "properties": { "sum": { "type": "number" } },
                "required": ["sum"]
            })),
        )
        .tool(
            Tool::new("sleep", |args: Sleep, cx: Context| async move {
                // Works in steps of 100 ms, reporting progress; if the request is cancelled the
                // task is dropped at its next await.
                let millis = args.millis.min(600_000);
                let steps = millis.div_ceil(100).max(1);
                for step in 1..=steps {
                    sleep(millis / steps).await;
                    let _ = cx.progress(step as f64, Some(steps as f64), None).await;
                }
                Ok(ToolResult::text(format!("slept {millis} ms")))
            })
            .description("Sleeps, reporting progress every 100 ms; cancellable"),
        )
        .tool(
            Tool::new("flood", |args: Flood, cx: Context| async move {
                let line = "x".repeat(args.size.min(1 << 20));
                for _ in 0..args.count {
                    cx.log(LogLevel::Info, Some("flood"), &line).await?;
                }
                Ok(ToolResult::text(format!("sent {} messages", args.count)))
            })
            .description("Sends many large log messages on the call's stream"),
        )
        .tool(
            Tool::new("generate", |args: Generate, _cx: Context| async move {
                Ok(ToolResult::text("g".repeat(args.bytes.min(64 << 20))))
            })
            .description("Answers with a text of the given size, to try large results"),
        )
        .tool(
            Tool::new("touch_resource", |args: Touch, cx: Context| async move {
                let subscribers = cx
                    .server()
                    .resource_updated(&args.uri)
                    .await
                    .map_err(|e| Error::tool(e.to_string()))?;
                Ok(ToolResult::text(format!(
                    "{subscribers} subscribers notified"
                )))
            })
            .description("Tells the subscribers of a resource that it changed"),
        )
        .tool(
            Tool::new("announce_list_changed", |args: ListChanged, cx: Context| async move {
                let server = cx.server();
                let mut sessions = 0;
                for _ in 0..args.times.unwrap_or(1).min(1_000_000) {
                    sessions = match args.list {
                        ListKind::Tools => server.tools_list_changed().await,
                        ListKind::Resources => server.resources_list_changed().await,
                        ListKind::Prompts => server.prompts_list_changed().await,
                    }
                    .map_err(|e| Error::tool(e.to_string()))?;
                }
                Ok(ToolResult::text(format!("{sessions} sessions notified")))
            })
            .description("Tells every session that a list changed, as a server whose tools, resources or prompts change would"),
        )
}

#[derive(Deserialize, JsonSchema)]
struct SamplingArgs {
    /// The prompt to send to the client's model.
    prompt: String,
}

#[derive(Deserialize, JsonSchema)]
struct ElicitationArgs {
    /// The message to show the user.
    message: String,
}

fn conformance_tools(builder: mcpwire_smol::AppBuilder) -> mcpwire_smol::AppBuilder {
    builder
        .tool(
            Tool::new("test_simple_text", |_: NoArgs, _cx: Context| async {
                Ok(ToolResult::text(
                    "This is a simple text response for testing.",
                ))
            })
            .description("Tests simple text content response"),
        )
        .tool(
            Tool::new("test_image_content", |_: NoArgs, _cx: Context| async {
                Ok(ToolResult::content(vec![Content::image(
                    IMAGE_PNG,
                    "image/png",
                )]))
            })
            .description("Tests image content response"),
        )
        .tool(
            Tool::new("test_audio_content", |_: NoArgs, _cx: Context| async {
                Ok(ToolResult::content(vec![Content::audio(
                    AUDIO_WAV,
                    "audio/wav",
                )]))
            })
            .description("Tests audio content response"),
        )
        .tool(
            Tool::new("test_embedded_resource", |_: NoArgs, _cx: Context| async {
                Ok(ToolResult::content(vec![Content::resource(
                    ResourceContents::text(
                        "test://embedded-resource",
                        "text/plain",
                        "This is an embedded resource content.",
                    ),
                )]))
            })
            .description("Tests embedded resource content response"),
        )
        .tool(
            Tool::new(
                "test_multiple_content_types",
                |_: NoArgs, _cx: Context| async {
                    Ok(ToolResult::content(vec![
                        Content::text("Multiple content types test:"),
                        Content::image(IMAGE_PNG, "image/png"),
                        Content::resource(ResourceContents::text(
                            "test://mixed-content-resource",
                            "application/json",
                            r#"{"test":"data","value":123}"#,
                        )),
                    ]))
                },
            )
            .description("Tests response with multiple content types (text, image, resource)"),
        )
        .tool(
            Tool::new(
                "test_tool_with_logging",
                |_: NoArgs, cx: Context| async move {
                    for (i, data) in [
                        "Tool execution started",
                        "Tool processing data",
                        "Tool execution completed",
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        if i > 0 {
                            sleep(50).await;
                        }
                        cx.log(LogLevel::Info, None, data).await?;
                    }
                    Ok(ToolResult::text("Tool with logging executed successfully"))
                },
            )
            .description("Tests tool that emits log messages during execution"),
        )
        .tool(
            Tool::new(
                "test_tool_with_progress",
                |_: NoArgs, cx: Context| async move {
                    for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                        if i > 0 {
                            sleep(50).await;
                        }
                        let message = format!("Completed step {progress} of 100");
                        // Without a progress token there is nobody to tell; the call still works.
                        let _ = cx.progress(progress, Some(100.0), Some(&message)).await;
                    }
                    Ok(ToolResult::text("Progress test completed"))
                },
            )
            .description("Tests tool that reports progress notifications"),
        )
        .tool(
            Tool::new("test_error_handling", |_: NoArgs, _cx: Context| async {
                Err::<ToolResult, _>(Error::tool(
                    "This tool intentionally returns an error for testing",
                ))
            })
            .description("Tests error response handling"),
        )
        .tool(
            Tool::new(
                "test_sampling",
                |args: SamplingArgs, cx: Context| async move {
                    let result = cx
                        .create_message(&json!({
                            "messages": [{
                                "role": "user",
                                "content": { "type": "text", "text": args.prompt }
                            }],
                            "maxTokens": 100
                        }))
                        .await?;
                    let text = result["content"]["text"].as_str().unwrap_or("(no text)");
                    Ok(ToolResult::text(format!("LLM response: {text}")))
                },
            )
            .description("Tests server-initiated sampling (LLM completion request)"),
        )
        .tool(
            Tool::new(
                "test_elicitation",
                |args: ElicitationArgs, cx: Context| async move {
                    let schema = json!({
                        "type": "object",
                        "properties": {
                            "username": { "type": "string", "description": "User's response" },
                            "email": { "type": "string", "description": "User's email address" }
                        },
                        "required": ["username", "email"]
                    });
                    let result = cx.elicit(&args.message, &schema).await?;
                    Ok(ToolResult::text(format!(
                        "User response: {}",
                        describe(&result)
                    )))
                },
            )
            .description("Tests server-initiated elicitation (user input request)"),
        )
        .tool(
            Tool::new("test_reconnection", |_: NoArgs, cx: Context| async move {
                // Ends the call's SSE stream after its priming event; the client resumes with
                // GET and Last-Event-ID and reads the result there. Clients too old to resume
                // simply get the result on the open stream.
                let _ = cx.close_stream().await;
                sleep(100).await;
                Ok(ToolResult::text(
                    "Reconnection test completed successfully. If you received this, the client \
                     properly reconnected after stream closure.",
                ))
            })
            .description("Tests SSE stream disconnection and client reconnection (SEP-1699)"),
        )
        .tool(
            Tool::with_schema(
                "json_schema_2020_12_tool",
                json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "$defs": {
                        "address": {
                            "$anchor": "addressDef",
                            "type": "object",
                            "properties": {
                                "street": { "type": "string" },
                                "city": { "type": "string" }
                            }
                        }
                    },
                    "properties": {
                        "name": { "type": "string" },
                        "address": { "$ref": "#/$defs/address" },
                        "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                        "phone": { "type": "string" },
                        "email": { "type": "string" }
                    },
                    "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
                    "if": {
                        "properties": { "contactMethod": { "const": "phone" } },
                        "required": ["contactMethod"]
                    },
                    "then": { "required": ["phone"] },
                    "else": { "required": ["email"] },
                    "additionalProperties": false
                }),
                |arguments, _cx| async move {
                    Ok(ToolResult::text(format!(
                        "JSON Schema 2020-12 tool called with: {arguments}"
                    )))
                },
            )
            .description(
                "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
            ),
        )
}

/// The diagnostic tools of the 2026-07-28 suite (`server-stateless`).
fn stateless_tools(builder: mcpwire_smol::AppBuilder) -> mcpwire_smol::AppBuilder {
    builder
        .tool(
            Tool::new(
                "test_missing_capability",
                |_: NoArgs, cx: Context| async move {
                    let declared = cx
                        .client_capabilities()
                        .is_some_and(|c| c.get("sampling").is_some_and(|s| !s.is_null()));
                    if !declared {
                        return Err(Error::missing_capability("sampling"));
                    }
                    Ok(ToolResult::text("The client declared sampling."))
                },
            )
            .description("Needs the client's sampling capability; refuses a client without it"),
        )
        .tool(
            Tool::new("test_logging_tool", |_: NoArgs, cx: Context| async move {
                // A 2026-07-28 request that named no logLevel receives none of these.
                for step in 1..=3 {
                    let _ = cx
                        .log(LogLevel::Info, Some("test"), &format!("log message {step}"))
                        .await;
                }
                Ok(ToolResult::text("Logged three messages at info."))
            })
            .description("Sends three log messages, which only a client that asked for logs sees"),
        )
        .tool(
            Tool::new(
                "test_streaming_elicitation",
                |_: NoArgs, cx: Context| async move {
                    let _ = cx.progress(1.0, Some(2.0), Some("working")).await;
                    Ok(ToolResult::text(
                        "Streamed its notifications on the response stream, and no request.",
                    ))
                },
            )
            .description("Streams notifications related to the call on its response stream"),
        )
        .tool(
            Tool::with_schema(
                "test_header_param",
                json!({
                    "type": "object",
                    "properties": {
                        "region": {
                            "type": "string",
                            "description": "Where to run; mirrored in the Mcp-Param-Region header",
                            "x-mcp-header": "Region"
                        }
                    },
                    "required": ["region"]
                }),
                |arguments, _cx| async move {
                    let region = arguments["region"].as_str().unwrap_or_default().to_string();
                    Ok(ToolResult::text(format!("Ran in {region}")))
                },
            )
            .description(
                "A tool whose region argument is mirrored in an HTTP header (x-mcp-header)",
            ),
        )
        .tool(
            Tool::new(
                "test_trigger_tool_change",
                |_: NoArgs, cx: Context| async move {
                    let notified = cx
                        .server()
                        .tools_list_changed()
                        .await
                        .map_err(|e| Error::tool(e.to_string()))?;
                    Ok(ToolResult::text(format!(
                        "tools/list_changed sent to {notified}"
                    )))
                },
            )
            .description("Announces that the tool list changed"),
        )
        .tool(
            Tool::new(
                "test_trigger_prompt_change",
                |_: NoArgs, cx: Context| async move {
                    let notified = cx
                        .server()
                        .prompts_list_changed()
                        .await
                        .map_err(|e| Error::tool(e.to_string()))?;
                    Ok(ToolResult::text(format!(
                        "prompts/list_changed sent to {notified}"
                    )))
                },
            )
            .description("Announces that the prompt list changed"),
        )
}

fn elicitation_tools(builder: mcpwire_smol::AppBuilder) -> mcpwire_smol::AppBuilder {
    builder
        .tool(
            Tool::new("test_elicitation_sep1034_defaults", |_: NoArgs, cx: Context| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "description": "User name", "default": "John Doe" },
                        "age": { "type": "integer", "description": "User age", "default": 30 },
                        "score": { "type": "number", "description": "User score", "default": 95.5 },
                        "status": {
                            "type": "string",
                            "description": "User status",
                            "enum": ["active", "inactive", "pending"],
                            "default": "active"
                        },
                        "verified": { "type": "boolean", "description": "Verification status", "default": true }
                    },
                    "required": []
                });
                let result = cx
                    .elicit("Please review and update the form fields with defaults", &schema)
                    .await?;
                Ok(ToolResult::text(format!("Elicitation completed: {}", describe(&result))))
            })
            .description("Tests elicitation with default values for every primitive type (SEP-1034)"),
        )
        .tool(
            Tool::new("test_elicitation_sep1330_enums", |_: NoArgs, cx: Context| async move {
                let options = |a: &str, b: &str, c: &str, prefix: &str| {
                    json!([
                        { "const": format!("{prefix}1"), "title": a },
                        { "const": format!("{prefix}2"), "title": b },
                        { "const": format!("{prefix}3"), "title": c }
                    ])
                };
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": {
                            "type": "string",
                            "description": "Select one option",
                            "enum": ["option1", "option2", "option3"]
                        },
                        "titledSingle": {
                            "type": "string",
                            "description": "Select one option with titles",
                            "oneOf": options("First Option", "Second Option", "Third Option", "value")
                        },
                        "legacyEnum": {
                            "type": "string",
                            "description": "Select one option (legacy)",
                            "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"]
                        },
                        "untitledMulti": {
                            "type": "array",
                            "description": "Select multiple options",
                            "minItems": 1,
                            "maxItems": 3,
                            "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
                        },
                        "titledMulti": {
                            "type": "array",
                            "description": "Select multiple options with titles",
                            "minItems": 1,
                            "maxItems": 3,
                            "items": {
                                "anyOf": options("First Choice", "Second Choice", "Third Choice", "value")
                            }
                        }
                    },
                    "required": []
                });
                let result = cx
                    .elicit("Please select options from the enum fields", &schema)
                    .await?;
                Ok(ToolResult::text(format!("Elicitation completed: {}", describe(&result))))
            })
            .description("Tests elicitation with every enum form (SEP-1330)"),
        )
}

fn resources(builder: mcpwire_smol::AppBuilder) -> mcpwire_smol::AppBuilder {
    builder
        .resource(
            Resource::text(
                "test://static-text",
                "static-text",
                "text/plain",
                "This is the content of the static text resource.",
            )
            .title("Static Text Resource")
            .description("A static text resource for testing"),
        )
        .resource(
            Resource::blob("test://static-binary", "static-binary", "image/png", IMAGE_PNG)
                .title("Static Binary Resource")
                .description("A static binary resource (image) for testing"),
        )
        .resource(
            Resource::text(
                "test://watched-resource",
                "watched-resource",
                "text/plain",
                "Watched resource content",
            )
            .title("Watched Resource")
            .description("A subscribable resource; the touch_resource tool announces updates"),
        )
        .resource_template(
            ResourceTemplate::new("test://template/{id}/data", "template", |uri, vars, _cx| async move {
                let id = vars.get("id").cloned().unwrap_or_default();
                let data = json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
                Ok(vec![ResourceContents::text(uri, "application/json", data.to_string())])
            })
            .description("A resource template with parameter substitution")
            .mime_type("application/json"),
        )
}

fn prompts(builder: mcpwire_smol::AppBuilder) -> mcpwire_smol::AppBuilder {
    builder
        .prompt(
            Prompt::new("test_simple_prompt", |_, _cx| async {
                Ok(PromptResult::new(vec![PromptMessage::user(Content::text(
                    "This is a simple prompt for testing.",
                ))]))
            })
            .title("Simple Test Prompt")
            .description("A simple prompt without arguments"),
        )
        .prompt(
            Prompt::new("test_prompt_with_arguments", |args, _cx| async move {
                let text = format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    args["arg1"], args["arg2"]
                );
                Ok(PromptResult::new(vec![PromptMessage::user(Content::text(
                    text,
                ))]))
            })
            .title("Prompt With Arguments")
            .description("A prompt with required arguments")
            .argument("arg1", "First test argument", true)
            .argument("arg2", "Second test argument", true),
        )
        .prompt(
            Prompt::new(
                "test_prompt_with_embedded_resource",
                |args, _cx| async move {
                    let uri = args["resourceUri"].clone();
                    Ok(PromptResult::new(vec![
                        PromptMessage::user(Content::resource(ResourceContents::text(
                            uri,
                            "text/plain",
                            "Embedded resource content for testing.",
                        ))),
                        PromptMessage::user(Content::text(
                            "Please process the embedded resource above.",
                        )),
                    ]))
                },
            )
            .title("Prompt With Embedded Resource")
            .description("A prompt that includes an embedded resource")
            .argument("resourceUri", "URI of the resource to embed", true),
        )
        .prompt(
            Prompt::new("test_prompt_with_image", |_, _cx| async {
                Ok(PromptResult::new(vec![
                    PromptMessage::user(Content::image(IMAGE_PNG, "image/png")),
                    PromptMessage::user(Content::text("Please analyze the image above.")),
                ]))
            })
            .title("Prompt With Image")
            .description("A prompt that includes image content"),
        )
}
