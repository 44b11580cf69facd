//! The application: tools, resources, prompts and completions, and how MCP's server methods
//! reach them. Nothing here knows about sockets or the engine: a handler is an async function
//! of its arguments and a [`Context`](crate::Context).

mod ask;
mod content;
mod dispatch;
mod error;
mod headers;
mod pages;
mod prompt;
mod resource;
mod tool;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

pub(crate) use ask::Answers;
pub use ask::{InputRequest, InputRequired};
pub use content::{
    Completion, Content, PromptMessage, PromptResult, ResourceBody, ResourceContents, Role,
    ToolResult,
};
pub(crate) use dispatch::dispatch;
pub use error::Error;
pub use prompt::Prompt;
pub use resource::{Resource, ResourceTemplate};
pub use tool::{NoArgs, Tool};

use crate::Context;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type CompletionHandler =
    Arc<dyn Fn(CompletionRequest, Context) -> BoxFuture<Result<Completion, Error>> + Send + Sync>;

/// A `completion/complete` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRequest {
    /// What is being completed.
    pub reference: CompletionRef,
    /// The argument's name.
    pub argument: String,
    /// What the user has typed so far.
    pub value: String,
    /// Arguments already filled in.
    pub context: BTreeMap<String, String>,
}

/// What a completion is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionRef {
    /// A prompt's argument (`ref/prompt`), by prompt name.
    Prompt(String),
    /// A resource template's variable (`ref/resource`), by template.
    Resource(String),
}

/// A server's application: what it offers and the handlers behind it. Build one with
/// [`App::builder`]; serve it with [`Server`](crate::Server).
///
/// # Examples
///
/// ```
/// use mcpwire_smol::{App, Context, Error, NoArgs, Tool, ToolResult};
///
/// let app = App::builder("clock", "1.0.0")
///     .instructions("Tells the time.")
///     .tool(Tool::new("now", |_: NoArgs, _cx: Context| async {
///         Ok::<_, Error>(ToolResult::text("noon"))
///     }))
///     .build();
/// assert_eq!(app.name(), "clock");
/// assert!(app.capabilities()["tools"]["listChanged"] == true);
/// ```
#[derive(Clone)]
pub struct App {
    name: String,
    version: String,
    title: Option<String>,
    instructions: Option<String>,
    tools: BTreeMap<String, Tool>,
    resources: BTreeMap<String, Resource>,
    templates: Vec<ResourceTemplate>,
    prompts: BTreeMap<String, Prompt>,
    completion: Option<CompletionHandler>,
    /// The list results, rendered once and paged.
    lists: Lists,
}

#[derive(Clone)]
struct Lists {
    tools: pages::Pages,
    resources: pages::Pages,
    templates: pages::Pages,
    prompts: pages::Pages,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .field("resources", &self.resources.keys().collect::<Vec<_>>())
            .field("prompts", &self.prompts.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Starts an application with this `serverInfo`.
    pub fn builder(name: &str, version: &str) -> AppBuilder {
        AppBuilder {
            name: name.into(),
            version: version.into(),
            title: None,
            instructions: None,
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            completion: None,
            page_size: pages::DEFAULT_PAGE_SIZE,
        }
    }

    /// Each tool's name with a scope it needs (see [`Tool::requires_scope`]).
    pub(crate) fn tool_scopes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tools
            .values()
            .flat_map(|tool| tool.scopes().map(|scope| (tool.name(), scope)))
    }

    /// `serverInfo.name`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `serverInfo.version`.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `serverInfo.title`.
    #[must_use]
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The `instructions` for the client.
    #[must_use]
    pub fn instructions(&self) -> Option<&str> {
        self.instructions.as_deref()
    }

    /// The capabilities to declare: `logging` always (the transport answers
    /// `logging/setLevel`), and each kind of thing the application offers, with `listChanged`
    /// (the [`ServerHandle`](crate::ServerHandle) sends those notifications) and resource
    /// subscriptions.
    #[must_use]
    pub fn capabilities(&self) -> Value {
        let mut capabilities = serde_json::json!({ "logging": {} });
        if !self.tools.is_empty() {
            capabilities["tools"] = serde_json::json!({ "listChanged": true });
        }
        if !self.resources.is_empty() || !self.templates.is_empty() {
            capabilities["resources"] =
                serde_json::json!({ "subscribe": true, "listChanged": true });
        }
        if !self.prompts.is_empty() {
            capabilities["prompts"] = serde_json::json!({ "listChanged": true });
        }
        if self.completion.is_some() {
            capabilities["completions"] = serde_json::json!({});
        }
        capabilities
    }
}

/// Builds an [`App`].
#[must_use]
pub struct AppBuilder {
    name: String,
    version: String,
    title: Option<String>,
    instructions: Option<String>,
    tools: Vec<Tool>,
    resources: Vec<Resource>,
    templates: Vec<ResourceTemplate>,
    prompts: Vec<Prompt>,
    completion: Option<CompletionHandler>,
    page_size: usize,
}

impl std::fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AppBuilder {
    /// `serverInfo.title`.
    pub fn title(mut self, title: &str) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Instructions for the client's model.
    pub fn instructions(mut self, instructions: &str) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Adds a tool (a later one with the same name replaces it).
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Adds a resource (a later one with the same URI replaces it).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// Adds a resource template; templates are tried in the order added.
    pub fn resource_template(mut self, template: ResourceTemplate) -> Self {
        self.templates.push(template);
        self
    }

    /// Adds a prompt (a later one with the same name replaces it).
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompts.push(prompt);
        self
    }

    /// How many tools, resources, templates or prompts a `*/list` answer holds at most
    /// (100 by default; at least 1). A longer list is answered in pages, each naming the
    /// next one's `nextCursor`, which clients send back as `cursor`.
    pub fn page_size(mut self, items: usize) -> Self {
        self.page_size = items.max(1);
        self
    }

    /// Answers `completion/complete`, and declares the `completions` capability.
    pub fn completion<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(CompletionRequest, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Completion, Error>> + Send + 'static,
    {
        self.completion = Some(Arc::new(move |request, cx| Box::pin(handler(request, cx))));
        self
    }

    /// The application.
    #[must_use]
    pub fn build(self) -> App {
        let tools: BTreeMap<_, _> = self
            .tools
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let resources: BTreeMap<_, _> = self
            .resources
            .into_iter()
            .map(|r| (r.uri.clone(), r))
            .collect();
        let prompts: BTreeMap<_, _> = self
            .prompts
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        let page_size = self.page_size;
        let list = |key: &str, items: Vec<&serde_json::Map<String, Value>>| {
            pages::Pages::new(key, &items, page_size)
        };
        let lists = Lists {
            tools: list("tools", tools.values().map(|t| &t.definition).collect()),
            resources: list(
                "resources",
                resources.values().map(|r| &r.definition).collect(),
            ),
            templates: list(
                "resourceTemplates",
                self.templates.iter().map(|t| &t.definition).collect(),
            ),
            prompts: list("prompts", prompts.values().map(|p| &p.definition).collect()),
        };
        App {
            name: self.name,
            version: self.version,
            title: self.title,
            instructions: self.instructions,
            tools,
            resources,
            templates: self.templates,
            prompts,
            completion: self.completion,
            lists,
        }
    }
}
