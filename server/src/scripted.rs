//! The conformance fixtures as data: `fixtures/conformance.json`, which the wasm handler's
//! examples serve too, so that the two servers cannot drift apart. Each tool and prompt runs a
//! short script of steps (log, progress, sleep, ask for input, close the stream, announce a
//! list change, require a capability, fail, answer), and its answer is a JSON template
//! (`fixtures/README.md` defines both). A fixture file that does not parse is a bug in this
//! repository: `app()` panics at startup, and a test loads it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use mcpwire_smol::{
    AppBuilder, Completion, CompletionRef, Context, Error, InputRequest, LogLevel, Prompt,
    PromptResult, Resource, ResourceContents, ResourceTemplate, Tool, ToolResult,
};
use serde_json::{Map, Value, json};

/// The shared fixture file.
pub const CONFORMANCE: &str = include_str!("../../fixtures/conformance.json");

/// What a script's templates may name.
#[derive(Default)]
struct Scope {
    args: Value,
    inputs: Map<String, Value>,
    variables: Map<String, Value>,
    uri: String,
    notified: Option<usize>,
}

/// Adds every fixture of `json` (the format of `fixtures/conformance.json`) to `builder`.
pub fn fixtures(builder: AppBuilder, json: &str) -> Result<AppBuilder, String> {
    let file: Value = serde_json::from_str(json).map_err(|e| format!("fixtures: {e}"))?;
    let mut builder = builder;
    for tool in list(&file, "tools")? {
        builder = builder.tool(tool_of(tool)?);
    }
    for resource in list(&file, "resources")? {
        builder = builder.resource(resource_of(resource)?);
    }
    for template in list(&file, "resourceTemplates")? {
        builder = builder.resource_template(template_of(template)?);
    }
    for prompt in list(&file, "prompts")? {
        builder = builder.prompt(prompt_of(prompt)?);
    }
    let completions: Arc<Vec<Value>> = Arc::new(list(&file, "completions")?.to_vec());
    Ok(builder.completion(move |request, _cx| {
        let completions = completions.clone();
        async move { Ok(complete(&completions, &request)) }
    }))
}

fn list<'a>(file: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match file.get(key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("fixtures: {key} is not an array")),
    }
}

fn text<'a>(item: &'a Value, key: &str) -> Result<&'a str, String> {
    item.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("fixtures: {key} missing in {item}"))
}

fn steps(item: &Value) -> Result<Arc<Vec<Value>>, String> {
    match item.get("run") {
        Some(Value::Array(steps)) => {
            check(steps)?;
            Ok(Arc::new(steps.clone()))
        }
        _ => Err(format!("fixtures: run missing in {item}")),
    }
}

/// Every step is one the scripts know, and every path through them ends in an answer (or
/// in a refusal: `requireCapability` last, for a client that lacks what the script needs).
fn check(steps: &[Value]) -> Result<(), String> {
    const KNOWN: &[&str] = &[
        "log",
        "progress",
        "sleepMs",
        "closeStream",
        "listChanged",
        "requireCapability",
        "input",
        "accepted",
    ];
    let kind_of = |step: &Value| {
        step.as_object()
            .and_then(|s| s.keys().next().cloned())
            .ok_or_else(|| format!("fixtures: a step is not an object: {step}"))
    };
    let Some((last, before)) = steps.split_last() else {
        return Err("fixtures: a script ends without a result".into());
    };
    for step in before {
        let kind = kind_of(step)?;
        if !KNOWN.contains(&kind.as_str()) {
            return Err(format!("fixtures: unknown step {kind} (or not last)"));
        }
    }
    let kind = kind_of(last)?;
    match kind.as_str() {
        "result" | "fail" | "requireCapability" => Ok(()),
        "firstDeclared" => {
            let branches = last[kind.as_str()]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            for branch in branches {
                check(branch["run"].as_array().map_or(&[][..], Vec::as_slice))?;
            }
            check(last["otherwise"].as_array().map_or(&[][..], Vec::as_slice))
        }
        known if KNOWN.contains(&known) => Err("fixtures: a script ends without a result".into()),
        unknown => Err(format!("fixtures: unknown step {unknown}")),
    }
}

fn tool_of(item: &Value) -> Result<Tool, String> {
    let name = text(item, "name")?;
    let schema = item
        .get("inputSchema")
        .cloned()
        .unwrap_or_else(|| json!({ "type": "object" }));
    let run = steps(item)?;
    let mut tool = Tool::with_schema(name, schema, move |args, cx| {
        let run = run.clone();
        async move {
            let scope = Scope {
                args,
                ..Scope::default()
            };
            let answer = script(&run, &cx, scope).await?;
            serde_json::from_value::<ToolResult>(answer)
                .map_err(|e| Error::internal(format!("fixture result: {e}")))
        }
    });
    if let Some(description) = item.get("description").and_then(Value::as_str) {
        tool = tool.description(description);
    }
    Ok(tool)
}

fn resource_of(item: &Value) -> Result<Resource, String> {
    let (uri, name, mime) = (
        text(item, "uri")?,
        text(item, "name")?,
        text(item, "mimeType")?,
    );
    let mut resource = match (item.get("text"), item.get("blob")) {
        (Some(Value::String(t)), None) => Resource::text(uri, name, mime, t),
        (None, Some(Value::String(b))) => Resource::blob(uri, name, mime, b),
        _ => return Err(format!("fixtures: {uri} needs text or blob")),
    };
    if let Some(title) = item.get("title").and_then(Value::as_str) {
        resource = resource.title(title);
    }
    if let Some(description) = item.get("description").and_then(Value::as_str) {
        resource = resource.description(description);
    }
    Ok(resource)
}

fn template_of(item: &Value) -> Result<ResourceTemplate, String> {
    let contents = item
        .get("contents")
        .cloned()
        .ok_or_else(|| format!("fixtures: contents missing in {item}"))?;
    let mut template = ResourceTemplate::new(
        text(item, "uriTemplate")?,
        text(item, "name")?,
        move |uri, variables, _cx| {
            let scope = Scope {
                variables: variables.into_iter().map(|(k, v)| (k, v.into())).collect(),
                uri,
                ..Scope::default()
            };
            let contents = fill(&contents, &scope);
            async move {
                serde_json::from_value::<Vec<ResourceContents>>(contents)
                    .map_err(|e| Error::internal(format!("fixture contents: {e}")))
            }
        },
    );
    if let Some(description) = item.get("description").and_then(Value::as_str) {
        template = template.description(description);
    }
    if let Some(mime) = item.get("mimeType").and_then(Value::as_str) {
        template = template.mime_type(mime);
    }
    Ok(template)
}

fn prompt_of(item: &Value) -> Result<Prompt, String> {
    let run = steps(item)?;
    let mut prompt = Prompt::new(text(item, "name")?, move |args, cx| {
        let run = run.clone();
        async move {
            let scope = Scope {
                args: serde_json::to_value(args).unwrap_or_default(),
                ..Scope::default()
            };
            let answer = script(&run, &cx, scope).await?;
            serde_json::from_value::<PromptResult>(answer)
                .map_err(|e| Error::internal(format!("fixture result: {e}")))
        }
    });
    if let Some(title) = item.get("title").and_then(Value::as_str) {
        prompt = prompt.title(title);
    }
    if let Some(description) = item.get("description").and_then(Value::as_str) {
        prompt = prompt.description(description);
    }
    for argument in item
        .get("arguments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        prompt = prompt.argument(
            text(argument, "name")?,
            argument
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            argument.get("required").and_then(Value::as_bool) == Some(true),
        );
    }
    Ok(prompt)
}

/// The values of the first completion entry that names this reference and argument, that
/// start with what was typed.
fn complete(completions: &[Value], request: &mcpwire_smol::CompletionRequest) -> Completion {
    let (kind, id) = match &request.reference {
        CompletionRef::Prompt(name) => ("ref/prompt", ("name", name)),
        CompletionRef::Resource(uri) => ("ref/resource", ("uri", uri)),
    };
    let entry = completions.iter().find(|c| {
        c["ref"]["type"] == kind
            && c["ref"][id.0] == id.1.as_str()
            && c["arguments"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == request.argument.as_str()))
    });
    let values: Vec<String> = entry
        .and_then(|c| c["values"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|v| v.starts_with(&request.value))
        .map(str::to_string)
        .collect();
    Completion {
        total: Some(values.len() as u64),
        values,
        has_more: false,
    }
}

fn declares(cx: &Context, capability: &str) -> bool {
    cx.client_capabilities()
        .is_some_and(|c| c.get(capability).is_some_and(|v| !v.is_null()))
}

fn input_request(wanted: &Value) -> Result<InputRequest, Error> {
    let params = &wanted["params"];
    match wanted["method"].as_str() {
        Some("elicitation/create") => Ok(InputRequest::elicit(
            params["message"].as_str().unwrap_or_default(),
            params["requestedSchema"].clone(),
        )),
        Some("sampling/createMessage") => Ok(InputRequest::sample(params.clone())),
        Some("roots/list") => Ok(InputRequest::list_roots()),
        _ => Err(Error::internal(format!("fixture input: {wanted}"))),
    }
}

/// Runs `run` to its `result` step.
async fn script(run: &[Value], cx: &Context, mut scope: Scope) -> Result<Value, Error> {
    let mut queue: VecDeque<&Value> = run.iter().collect();
    while let Some(step) = queue.pop_front() {
        let Some((kind, value)) = step.as_object().and_then(|s| s.iter().next()) else {
            return Err(Error::internal(format!("fixture step: {step}")));
        };
        match kind.as_str() {
            "result" => return Ok(fill(value, &scope)),
            "fail" => return Err(Error::tool(render_str(value, &scope))),
            "sleepMs" => {
                let millis = value.as_u64().unwrap_or(0);
                smol::Timer::after(Duration::from_millis(millis)).await;
            }
            "log" => {
                let level = value["level"]
                    .as_str()
                    .and_then(LogLevel::parse)
                    .unwrap_or(LogLevel::Info);
                let data = fill(&value["data"], &scope);
                // A client that asked for no logs (or left) gets none; the call goes on.
                let _ = cx.log(level, value["logger"].as_str(), &data).await;
            }
            "progress" => {
                let message = value["message"].as_str().map(|m| render(m, &scope));
                // Without a progress token there is nobody to tell; the call still works.
                let _ = cx
                    .progress(
                        value["progress"].as_f64().unwrap_or(0.0),
                        value["total"].as_f64(),
                        message.as_deref(),
                    )
                    .await;
            }
            "closeStream" => {
                // Clients too old to resume simply get the result on the open stream.
                let _ = cx.close_stream().await;
            }
            "listChanged" => {
                let server = cx.server();
                let sent = match value.as_str() {
                    Some("tools") => server.tools_list_changed().await,
                    Some("prompts") => server.prompts_list_changed().await,
                    _ => server.resources_list_changed().await,
                };
                scope.notified = Some(sent.map_err(|e| Error::tool(e.to_string()))?);
            }
            "requireCapability" => {
                let capability = value.as_str().unwrap_or_default();
                if !declares(cx, capability) {
                    return Err(Error::missing_capability(capability));
                }
            }
            "input" => {
                let Some(wanted) = value.as_object() else {
                    return Err(Error::internal(format!("fixture step: {step}")));
                };
                let mut requests = Vec::with_capacity(wanted.len());
                for (key, request) in wanted {
                    requests.push((key.clone(), input_request(&fill(request, &scope))?));
                }
                let answers = cx.inputs(requests).await?;
                for ((key, _), answer) in wanted.iter().zip(answers) {
                    scope.inputs.insert(key.clone(), answer);
                }
            }
            "accepted" => {
                let key = value.as_str().unwrap_or_default();
                let action = &scope.inputs.get(key).unwrap_or(&Value::Null)["action"];
                if action != "accept" {
                    return Err(Error::tool(format!("the user chose to {action}")));
                }
            }
            "firstDeclared" => {
                let branch = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|b| declares(cx, b["capability"].as_str().unwrap_or_default()));
                let chosen = match branch {
                    Some(branch) => &branch["run"],
                    None => &step["otherwise"],
                };
                for next in chosen.as_array().into_iter().flatten().rev() {
                    queue.push_front(next);
                }
            }
            _ => return Err(Error::internal(format!("fixture step: {kind}"))),
        }
    }
    Err(Error::internal(
        "fixture: the script ended without a result",
    ))
}

/// `template` with every `${...}` in its strings replaced, and every `{"$json": x}` replaced
/// by the JSON text of `x` filled in.
fn fill(template: &Value, scope: &Scope) -> Value {
    match template {
        Value::String(s) => Value::String(render(s, scope)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, scope)).collect()),
        Value::Object(map) => {
            if let (1, Some(inner)) = (map.len(), map.get("$json")) {
                return Value::String(fill(inner, scope).to_string());
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), fill(v, scope)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

fn render_str(value: &Value, scope: &Scope) -> String {
    render(value.as_str().unwrap_or_default(), scope)
}

/// One string with its `${[json:|count:]path[?fallback]}` placeholders filled in.
fn render(template: &str, scope: &Scope) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&placeholder(&rest[start + 2..start + end], scope));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

fn placeholder(expression: &str, scope: &Scope) -> String {
    let (expression, fallback) = match expression.split_once('?') {
        Some((path, fallback)) => (path, Some(fallback)),
        None => (expression, None),
    };
    let (form, path) = match expression.split_once(':') {
        Some((form @ ("json" | "count"), path)) => (form, path),
        _ => ("", expression),
    };
    let value = lookup(path, scope);
    match form {
        "json" => value.unwrap_or(Value::Null).to_string(),
        "count" => value
            .as_ref()
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
            .to_string(),
        _ => match value {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => fallback.unwrap_or("null").to_string(),
            Some(other) if fallback.is_none() => other.to_string(),
            Some(_) => fallback.unwrap_or_default().to_string(),
        },
    }
}

fn lookup(path: &str, scope: &Scope) -> Option<Value> {
    let mut parts = path.split('.');
    let root = match parts.next()? {
        "args" => scope.args.clone(),
        "inputs" => Value::Object(scope.inputs.clone()),
        "variables" => Value::Object(scope.variables.clone()),
        "uri" => Value::String(scope.uri.clone()),
        "notified" => scope.notified.map(Value::from)?,
        _ => return None,
    };
    let mut value = &root;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_as_the_fixtures_use_them() {
        let mut scope = Scope {
            args: json!({ "prompt": "hi", "n": 3 }),
            ..Scope::default()
        };
        scope.inputs.insert(
            "r".into(),
            json!({ "action": "accept", "content": { "a": 1 }, "roots": [1, 2] }),
        );
        assert_eq!(render("say ${args.prompt}", &scope), "say hi");
        assert_eq!(render("${args.n}", &scope), "3");
        assert_eq!(render("${json:inputs.r.content}", &scope), r#"{"a":1}"#);
        assert_eq!(render("${json:inputs.none}", &scope), "null");
        assert_eq!(render("${count:inputs.r.roots} roots", &scope), "2 roots");
        assert_eq!(
            render("${inputs.r.content.text?(no text)}", &scope),
            "(no text)"
        );
        assert_eq!(render("${inputs.x.action??}", &scope), "?");
        assert_eq!(
            render(r#"{"a":1} ${unclosed"#, &scope),
            r#"{"a":1} ${unclosed"#
        );
        let filled = fill(
            &json!({ "text": { "$json": { "p": "${args.prompt}" } } }),
            &scope,
        );
        assert_eq!(filled, json!({ "text": r#"{"p":"hi"}"# }));
    }

    #[test]
    fn the_shared_fixture_file_loads() {
        let builder = mcpwire_smol::App::builder("t", "1");
        let app = fixtures(builder, CONFORMANCE).expect("fixtures/conformance.json loads");
        drop(app.build());
    }

    #[test]
    fn an_unknown_step_or_a_script_without_an_answer_is_refused_at_load() {
        let builder = || mcpwire_smol::App::builder("t", "1");
        let unknown = r#"{"tools":[{"name":"x","run":[{"sleeep":1},{"result":{}}]}]}"#;
        assert!(fixtures(builder(), unknown).unwrap_err().contains("sleeep"));
        let endless = r#"{"tools":[{"name":"x","run":[{"sleepMs":1}]}]}"#;
        assert!(
            fixtures(builder(), endless)
                .unwrap_err()
                .contains("ends without")
        );
        let late = r#"{"tools":[{"name":"x","run":[{"result":{}},{"sleepMs":1}]}]}"#;
        assert!(fixtures(builder(), late).is_err());
    }
}
