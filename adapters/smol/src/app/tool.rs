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
    /// Arguments that do not fit `A` give a result with `isError`, naming the problem, so the
    /// model can correct itself.
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
        Tool::with_schema(name, schema, move |arguments: Value, cx: Context| {
            let parsed = serde_json::from_value::<A>(arguments);
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
        }
    }

    /// The tool's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
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
