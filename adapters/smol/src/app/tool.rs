//! Tools: a name, a JSON Schema for the arguments, and an async handler.

use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{BoxFuture, Error, ToolResult};
use crate::Context;

pub(crate) type ToolHandler =
    Arc<dyn Fn(Value, Context) -> BoxFuture<Result<ToolResult, Error>> + Send + Sync>;

/// A tool the client can call.
///
/// # Examples
///
/// ```
/// use mcpwire_smol::{Context, Error, Tool, ToolResult};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Add {
///     /// The first term.
///     a: f64,
///     /// The second term.
///     b: f64,
/// }
///
/// let add = Tool::new("add", |args: Add, _cx: Context| async move {
///     Ok::<_, Error>(ToolResult::text(format!("{}", args.a + args.b)))
/// })
/// .description("Adds two numbers");
/// assert_eq!(add.name(), "add");
/// ```
#[derive(Clone)]
pub struct Tool {
    pub(crate) name: String,
    /// The `tools/list` entry.
    pub(crate) definition: Map<String, Value>,
    pub(crate) handler: ToolHandler,
    /// The OAuth scopes a call needs, on a protected server.
    pub(crate) scopes: Vec<String>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("definition", &self.definition)
            .finish_non_exhaustive()
    }
}

impl Tool {
    /// A tool whose arguments deserialize into `A`; its input schema is derived from `A`.
    /// Arguments that do not fit `A` give a result with `isError` that names the argument and
    /// the problem (`b: invalid type: string "x", expected i64`), so the model can correct
    /// itself.
    ///
    /// An `Option<T>` argument is published as `T`'s schema, left out of `required`, rather than
    /// as `T` or `null` (`"type": ["integer", "null"]`): many clients and model APIs reject
    /// type arrays, and strict schema checkers flag them. An explicit `null` is still accepted
    /// and reads as `None`. Deeper in the schema (fields of nested types, items of a list) a
    /// `null` stays where schemars put it, since serde may need it there.
    pub fn new<A, F, Fut>(name: &str, handler: F) -> Tool
    where
        A: DeserializeOwned + JsonSchema + 'static,
        F: Fn(A, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ToolResult, Error>> + Send + 'static,
    {
        let mut schema = schemars::schema_for!(A).to_value();
        if let Some(object) = schema.as_object_mut() {
            // The type's Rust name says nothing to a model; the tool's name and description do.
            object.remove("title");
            object
                .entry("type")
                .or_insert_with(|| Value::String("object".into()));
        }
        drop_null_alternatives(&mut schema);
        Tool::with_schema(name, schema, move |arguments: Value, cx: Context| {
            let parsed = serde_path_to_error::deserialize::<_, A>(arguments);
            let call = parsed.map(|args| handler(args, cx));
            async move {
                match call {
                    Ok(future) => future.await,
                    Err(error) => Err(Error::tool(format!("Invalid arguments: {error}"))),
                }
            }
        })
    }

    /// A tool with a hand-written input schema (kept exactly as given) and raw JSON arguments
    /// (an empty object when the call has none).
    pub fn with_schema<F, Fut>(name: &str, input_schema: Value, handler: F) -> Tool
    where
        F: Fn(Value, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ToolResult, Error>> + Send + 'static,
    {
        let mut definition = Map::new();
        definition.insert("name".into(), name.into());
        definition.insert("inputSchema".into(), input_schema);
        Tool {
            name: name.into(),
            definition,
            handler: Arc::new(move |arguments, cx| Box::pin(handler(arguments, cx))),
            scopes: Vec::new(),
        }
    }

    /// The tool's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An OAuth scope a call of this tool needs, beyond those every request needs, once the
    /// server is protected ([`Server::protect`](crate::Server::protect)): a token without it
    /// gets `403` with `error="insufficient_scope"`, naming the scopes to ask for, before the
    /// handler runs. Unprotected, the declaration changes nothing.
    ///
    /// # Panics
    ///
    /// [`Server::protect`](crate::Server::protect) panics if `scope` is not a scope token
    /// (RFC 6749 §3.3: visible ASCII but `"` and `\`, no space).
    ///
    /// # Examples
    ///
    /// ```
    /// use mcpwire_smol::{Context, Error, Tool, ToolResult};
    ///
    /// let wipe = Tool::with_schema("wipe", serde_json::json!({"type": "object"}), |_, _cx: Context| async {
    ///     Ok::<_, Error>(ToolResult::text("wiped"))
    /// })
    /// .requires_scope("mcp:admin");
    /// assert_eq!(wipe.scopes().collect::<Vec<_>>(), ["mcp:admin"]);
    /// ```
    #[must_use]
    pub fn requires_scope(mut self, scope: &str) -> Tool {
        if !self.scopes.iter().any(|s| s == scope) {
            self.scopes.push(scope.into());
        }
        self
    }

    /// The OAuth scopes a call of this tool needs (see [`Tool::requires_scope`]).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(String::as_str)
    }

    /// What the tool does, for the model.
    #[must_use]
    pub fn description(self, description: &str) -> Tool {
        self.field("description", description.into())
    }

    /// A display name.
    #[must_use]
    pub fn title(self, title: &str) -> Tool {
        self.field("title", title.into())
    }

    /// Hints such as `{"readOnlyHint": true}`.
    #[must_use]
    pub fn annotations(self, annotations: Value) -> Tool {
        self.field("annotations", annotations)
    }

    /// The schema of the structured output.
    #[must_use]
    pub fn output_schema(self, schema: Value) -> Tool {
        self.field("outputSchema", schema)
    }

    fn field(mut self, name: &str, value: Value) -> Tool {
        self.definition.insert(name.into(), value);
        self
    }
}

/// Removes the `null` that schemars adds for an `Option<T>` argument, in each of the forms it
/// adds it in: `"type": [T, "null"]`, `null` among an `enum`'s values, `{"type": "null"}` as
/// an `anyOf` branch (for a `$ref` or a composite), and a `"default": null`. Only the top-level
/// arguments that are not required are rewritten: elsewhere a `null` may be a value serde needs
/// (an untagged variant of `()`, the items of a `Vec<Option<T>>`), so the schema keeps it.
fn drop_null_alternatives(schema: &mut Value) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        if required.contains(name) {
            continue;
        }
        if let Value::Object(object) = property {
            drop_null_from(object);
        }
    }
}

fn drop_null_from(object: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = object.get_mut("type") {
        if types.len() > 1 && types.iter().any(|t| t == "null") {
            types.retain(|t| t != "null");
            if let [only] = types.as_mut_slice() {
                let only = only.take();
                object.insert("type".into(), only);
            }
        }
    }
    let typed = object.contains_key("type");
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        if typed && values.len() > 1 {
            values.retain(|v| !v.is_null());
        }
    }
    if object.get("default").is_some_and(Value::is_null) {
        object.remove("default");
    }
    let Some(Value::Array(branches)) = object.get_mut("anyOf") else {
        return;
    };
    let is_null = |branch: &Value| {
        branch
            .as_object()
            .is_some_and(|b| b.len() == 1 && b.get("type").is_some_and(|t| t == "null"))
    };
    if branches.len() < 2 || !branches.iter().any(is_null) {
        return;
    }
    branches.retain(|b| !is_null(b));
    if let [Value::Object(only)] = branches.as_mut_slice() {
        // The one branch left takes the place of the `anyOf`; the field's own keys (its
        // description, its default) stay as they are.
        let only = std::mem::take(only);
        object.remove("anyOf");
        for (key, value) in only {
            object.entry(key).or_insert(value);
        }
    }
}

/// Arguments of a tool that takes none.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, JsonSchema)]
pub struct NoArgs {}

/// Calls `tool` with the `tools/call` arguments (an object, or nothing).
pub(crate) fn call(
    tool: &Tool,
    arguments: Option<Value>,
    cx: Context,
) -> BoxFuture<Result<ToolResult, Error>> {
    (tool.handler)(arguments.unwrap_or_else(|| Value::Object(Map::new())), cx)
}
