//! The input-required fixtures of the 2026-07-28 suite (SEP-2322): tools and a prompt that
//! ask their client for input through [`Context::input`], so that each works in both eras
//! (a request to the client in the session era; input-required rounds in 2026-07-28).

use mcpwire_smol::{
    AppBuilder, Content, Context, Error, InputRequest, NoArgs, Prompt, PromptMessage, PromptResult,
    Tool, ToolResult,
};
use serde_json::{Value, json};

fn name_schema(field: &str) -> Value {
    json!({
        "type": "object",
        "properties": { field: { "type": "string" } },
        "required": [field]
    })
}

fn confirm_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "ok": { "type": "boolean" } },
        "required": ["ok"]
    })
}

fn text(prompt: &str, max_tokens: u64) -> InputRequest {
    InputRequest::sample(json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
        "maxTokens": max_tokens
    }))
}

/// The elicited `content.field`, or why there is none.
fn accepted(answer: &Value, field: &str) -> Result<String, Error> {
    if answer["action"] != "accept" {
        return Err(Error::tool(format!(
            "the user chose to {}",
            answer["action"]
        )));
    }
    Ok(match &answer["content"][field] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn declares(cx: &Context, capability: &str) -> bool {
    cx.client_capabilities()
        .is_some_and(|c| c.get(capability).is_some_and(|v| !v.is_null()))
}

pub fn tools(builder: AppBuilder) -> AppBuilder {
    builder
        .tool(
            Tool::new(
                "test_input_required_result_elicitation",
                |_: NoArgs, cx: Context| async move {
                    let answer = cx
                        .input(
                            "user_name",
                            InputRequest::elicit("What is your name?", name_schema("name")),
                        )
                        .await?;
                    Ok(ToolResult::text(format!(
                        "Hello, {}!",
                        accepted(&answer, "name")?
                    )))
                },
            )
            .description("Asks the user for their name, then greets them"),
        )
        .tool(
            Tool::new(
                "test_input_required_result_sampling",
                |_: NoArgs, cx: Context| async move {
                    let answer = cx
                        .input(
                            "capital_question",
                            text("What is the capital of France?", 100),
                        )
                        .await?;
                    let reply = answer["content"]["text"].as_str().unwrap_or("(no text)");
                    Ok(ToolResult::text(format!("The model said: {reply}")))
                },
            )
            .description("Asks the client's model a question"),
        )
        .tool(
            Tool::new(
                "test_input_required_result_list_roots",
                |_: NoArgs, cx: Context| async move {
                    let answer = cx.input("client_roots", InputRequest::list_roots()).await?;
                    let roots = answer["roots"].as_array().map_or(0, Vec::len);
                    Ok(ToolResult::text(format!("The client has {roots} roots")))
                },
            )
            .description("Asks the client for its roots"),
        )
        .tool(
            Tool::new(
                "test_input_required_result_request_state",
                |_: NoArgs, cx: Context| async move {
                    let answer = cx
                        .input(
                            "confirm",
                            InputRequest::elicit("Please confirm", confirm_schema()),
                        )
                        .await?;
                    accepted(&answer, "ok")?;
                    Ok(ToolResult::text("state-ok: requestState validated"))
                },
            )
            .description("Asks for a confirmation, carried back in the sealed requestState"),
        )
        .tool(
            Tool::new(
                "test_input_required_result_multiple_inputs",
                |_: NoArgs, cx: Context| async move {
                    let answers = cx
                        .inputs(vec![
                            (
                                "user_name".into(),
                                InputRequest::elicit("What is your name?", name_schema("name")),
                            ),
                            ("greeting".into(), text("Generate a greeting", 50)),
                            ("client_roots".into(), InputRequest::list_roots()),
                        ])
                        .await?;
                    let name = accepted(&answers[0], "name")?;
                    let greeting = answers[1]["content"]["text"].as_str().unwrap_or("Hello");
                    let roots = answers[2]["roots"].as_array().map_or(0, Vec::len);
                    Ok(ToolResult::text(format!(
                        "{greeting}, {name} ({roots} roots)"
                    )))
                },
            )
            .description("Asks for a name, a greeting and the roots in one round"),
        )
        .tool(
            Tool::new(
                "test_input_required_result_multi_round",
                |_: NoArgs, cx: Context| async move {
                    let step1 = cx
                        .input(
                            "step1",
                            InputRequest::elicit("Step 1: What is your name?", name_schema("name")),
                        )
                        .await?;
                    let name = accepted(&step1, "name")?;
                    let step2 = cx
                        .input(
                            "step2",
                            InputRequest::elicit(
                                "Step 2: What is your favorite color?",
                                name_schema("color"),
                            ),
                        )
                        .await?;
                    let color = accepted(&step2, "color")?;
                    Ok(ToolResult::text(format!("{name} likes {color}")))
                },
            )
            .description("Asks two questions, one round after the other"),
        )
        .tool(
            Tool::new(
                "test_input_required_result_tampered_state",
                |_: NoArgs, cx: Context| async move {
                    let answer = cx
                        .input(
                            "confirm",
                            InputRequest::elicit("Please confirm", confirm_schema()),
                        )
                        .await?;
                    accepted(&answer, "ok")?;
                    Ok(ToolResult::text("state-ok"))
                },
            )
            .description(
                "Asks for a confirmation; a retry with an altered requestState is refused",
            ),
        )
        .tool(
            Tool::new(
                "test_input_required_result_capabilities",
                |_: NoArgs, cx: Context| async move {
                    // Only what the client declared may be asked of it.
                    if declares(&cx, "elicitation") {
                        let answer = cx
                            .input(
                                "user_name",
                                InputRequest::elicit("What is your name?", name_schema("name")),
                            )
                            .await?;
                        return Ok(ToolResult::text(format!(
                            "Hello, {}!",
                            accepted(&answer, "name")?
                        )));
                    }
                    if declares(&cx, "sampling") {
                        let answer = cx.input("sample_input", text("Sample request", 50)).await?;
                        let reply = answer["content"]["text"].as_str().unwrap_or("(no text)");
                        return Ok(ToolResult::text(format!("The model said: {reply}")));
                    }
                    Err(Error::missing_capability("sampling"))
                },
            )
            .description("Asks only for what the client declared: elicitation, else sampling"),
        )
}

pub fn prompts(builder: AppBuilder) -> AppBuilder {
    builder.prompt(
        Prompt::new(
            "test_input_required_result_prompt",
            |_, cx: Context| async move {
                let answer = cx
                    .input(
                        "user_context",
                        InputRequest::elicit(
                            "What context should the prompt use?",
                            name_schema("context"),
                        ),
                    )
                    .await?;
                let context = accepted(&answer, "context")?;
                Ok(PromptResult::new(vec![PromptMessage::user(Content::text(
                    format!("Use this context: {context}"),
                ))]))
            },
        )
        .description("A prompt that asks the user for its context first"),
    )
}
