//! MCP's server methods, from a request's method and params to the application's handler and
//! back to a JSON-RPC reply.

use std::collections::BTreeMap;

use mcpwire_core::engine::Reply;
use mcpwire_core::jsonrpc::ErrorCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{App, CompletionRef, CompletionRequest, Error, tool};
use crate::Context;

/// Answers one request. Errors become JSON-RPC errors, except a tool's own failures, which
/// become results with `isError` (the model should see them).
pub(crate) async fn dispatch(
    app: &App,
    method: &str,
    params: Option<&RawValue>,
    cx: Context,
) -> Reply {
    match answer(app, method, params, cx).await {
        Ok(result) => Reply::Result(result),
        Err(Error::Tool(message)) => rpc_error(ErrorCode::INTERNAL_ERROR.0, message, None),
        Err(Error::Rpc {
            code,
            message,
            data,
        }) => rpc_error(code, message, data),
        Err(Error::InputRequired(ask)) => Reply::InputRequired {
            input_requests: to_raw(&ask.requests).unwrap_or_else(|_| empty_object()),
            state: ask.state,
        },
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".into()).expect("valid JSON")
}

fn rpc_error(code: i64, message: String, data: Option<Value>) -> Reply {
    Reply::Error {
        code,
        message,
        data: data.and_then(|d| serde_json::value::to_raw_value(&d).ok()),
    }
}

fn to_raw<T: serde::Serialize>(value: &T) -> Result<Box<RawValue>, Error> {
    serde_json::value::to_raw_value(value).map_err(|e| Error::internal(e.to_string()))
}

fn params<T: DeserializeOwned + Default>(params: Option<&RawValue>) -> Result<T, Error> {
    match params {
        None => Ok(T::default()),
        Some(raw) => {
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
                .map_err(|e| Error::invalid_params(format!("Invalid params: {e}")))
        }
    }
}

/// An explicit `null` reads as the default, as an absent member does: clients send
/// `"arguments": null` for a prompt without arguments.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[derive(Default, Deserialize)]
struct ListParams {
    #[serde(default, deserialize_with = "null_as_default")]
    cursor: Option<String>,
}

/// The `cursor` of a `*/list` request.
fn cursor(raw: Option<&RawValue>) -> Result<Option<String>, Error> {
    params::<ListParams>(raw).map(|list| list.cursor)
}

#[derive(Default, Deserialize)]
struct CallParams {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Default, Deserialize)]
struct ReadParams {
    #[serde(default)]
    uri: String,
}

#[derive(Default, Deserialize)]
struct GetPromptParams {
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    arguments: BTreeMap<String, Value>,
}

#[derive(Default, Deserialize)]
struct CompleteParams {
    #[serde(default, rename = "ref")]
    reference: Value,
    #[serde(default)]
    argument: CompleteArgument,
    #[serde(default, deserialize_with = "null_as_default")]
    context: CompleteContext,
}

#[derive(Default, Deserialize)]
struct CompleteArgument {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Default, Deserialize)]
struct CompleteContext {
    #[serde(default, deserialize_with = "null_as_default")]
    arguments: BTreeMap<String, String>,
}

async fn answer(
    app: &App,
    method: &str,
    raw: Option<&RawValue>,
    cx: Context,
) -> Result<Box<RawValue>, Error> {
    match method {
        "tools/list" if !app.tools.is_empty() => app.lists.tools.page(cursor(raw)?.as_deref()),
        "tools/call" if !app.tools.is_empty() => {
            let call: CallParams = params(raw)?;
            let tool = app
                .tools
                .get(&call.name)
                .ok_or_else(|| Error::invalid_params(format!("Unknown tool: {}", call.name)))?;
            if call.arguments.as_ref().is_some_and(|a| !a.is_object()) {
                return Err(Error::invalid_params("Tool arguments must be an object"));
            }
            // Arguments are mirrored in headers only in 2026-07-28.
            // (over HTTP: a pipe has no header layer, so nothing is mirrored there).
            if let Some(headers) = cx
                .param_headers()
                .filter(|_| cx.protocol_version().is_stateless())
            {
                super::headers::check(&tool.definition, call.arguments.as_ref(), headers)?;
            }
            let result = match tool::call(tool, call.arguments, cx).await {
                Ok(result) => result,
                Err(Error::Tool(message)) => super::ToolResult::error(message),
                Err(rpc) => return Err(rpc),
            };
            to_raw(&result)
        }
        "resources/list" if has_resources(app) => app.lists.resources.page(cursor(raw)?.as_deref()),
        "resources/templates/list" if has_resources(app) => {
            app.lists.templates.page(cursor(raw)?.as_deref())
        }
        "resources/read" if has_resources(app) => {
            let read: ReadParams = params(raw)?;
            let contents = if let Some(resource) = app.resources.get(&read.uri) {
                (resource.reader)(read.uri.clone(), BTreeMap::new(), cx).await?
            } else if let Some((template, vars)) = app
                .templates
                .iter()
                .find_map(|t| t.matches(&read.uri).map(|vars| (t, vars)))
            {
                (template.reader)(read.uri.clone(), vars, cx).await?
            } else {
                // SEP-2164 made an unknown resource invalid params (-32602) in 2026-07-28.
                let mut error = Error::resource_not_found(&read.uri);
                if let (true, Error::Rpc { code, .. }) =
                    (cx.protocol_version().is_stateless(), &mut error)
                {
                    *code = ErrorCode::INVALID_PARAMS.0;
                }
                return Err(error);
            };
            to_raw(&serde_json::json!({ "contents": contents }))
        }
        "prompts/list" if !app.prompts.is_empty() => {
            app.lists.prompts.page(cursor(raw)?.as_deref())
        }
        "prompts/get" if !app.prompts.is_empty() => {
            let get: GetPromptParams = params(raw)?;
            let prompt = app
                .prompts
                .get(&get.name)
                .ok_or_else(|| Error::invalid_params(format!("Unknown prompt: {}", get.name)))?;
            let args: BTreeMap<String, String> = get
                .arguments
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect();
            if let Some(missing) = prompt.missing_argument(&args) {
                return Err(Error::invalid_params(format!(
                    "Missing required argument: {missing}"
                )));
            }
            to_raw(&(prompt.handler)(args, cx).await?)
        }
        "completion/complete" if app.completion.is_some() => {
            let complete: CompleteParams = params(raw)?;
            let kind = complete.reference.get("type").and_then(Value::as_str);
            let reference = match kind {
                Some("ref/prompt") => {
                    CompletionRef::Prompt(string_field(&complete.reference, "name"))
                }
                Some("ref/resource") => {
                    CompletionRef::Resource(string_field(&complete.reference, "uri"))
                }
                _ => return Err(Error::invalid_params("Unknown completion reference")),
            };
            let known = match &reference {
                CompletionRef::Prompt(name) => app.prompts.contains_key(name),
                CompletionRef::Resource(uri) => {
                    app.resources.contains_key(uri)
                        || app.templates.iter().any(|t| {
                            t.definition.get("uriTemplate").and_then(Value::as_str)
                                == Some(uri.as_str())
                        })
                }
            };
            if !known {
                return Err(Error::invalid_params("Unknown completion reference"));
            }
            let request = CompletionRequest {
                reference,
                argument: complete.argument.name,
                value: complete.argument.value,
                context: complete.context.arguments,
            };
            let handler = app.completion.as_ref().expect("checked by the guard");
            let mut completion = handler(request, cx).await?;
            // The specification caps a completion at 100 values.
            if completion.values.len() > 100 {
                completion.values.truncate(100);
                completion.has_more = true;
            }
            to_raw(&serde_json::json!({ "completion": completion }))
        }
        _ => Err(Error::rpc(
            ErrorCode::METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )),
    }
}

fn has_resources(app: &App) -> bool {
    !app.resources.is_empty() || !app.templates.is_empty()
}

fn string_field(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
