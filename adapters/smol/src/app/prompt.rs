//! Prompts: named message templates with arguments.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{BoxFuture, Error, PromptResult};
use crate::Context;

type PromptHandler = Arc<
    dyn Fn(BTreeMap<String, String>, Context) -> BoxFuture<Result<PromptResult, Error>>
        + Send
        + Sync,
>;

/// A prompt the client can list and get.
///
/// # Examples
///
/// ```
/// use mcpwire_smol::{Content, Error, Prompt, PromptMessage, PromptResult};
///
/// let review = Prompt::new("review", |args, _cx| async move {
///     let code = &args["code"];
///     Ok::<_, Error>(PromptResult::new(vec![PromptMessage::user(Content::text(format!(
///         "Review this code:\n{code}"
///     )))]))
/// })
/// .argument("code", "The code to review", true);
/// assert_eq!(review.name(), "review");
/// ```
#[derive(Clone)]
pub struct Prompt {
    pub(crate) name: String,
    pub(crate) definition: Map<String, Value>,
    required: Vec<String>,
    pub(crate) handler: PromptHandler,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("definition", &self.definition)
            .finish_non_exhaustive()
    }
}

impl Prompt {
    /// A prompt filled in by `handler` from its arguments (each a string).
    pub fn new<F, Fut>(name: &str, handler: F) -> Prompt
    where
        F: Fn(BTreeMap<String, String>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<PromptResult, Error>> + Send + 'static,
    {
        let mut definition = Map::new();
        definition.insert("name".into(), name.into());
        Prompt {
            name: name.into(),
            definition,
            required: Vec::new(),
            handler: Arc::new(move |args, cx| Box::pin(handler(args, cx))),
        }
    }

    /// The prompt's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the prompt is for.
    #[must_use]
    pub fn description(mut self, description: &str) -> Prompt {
        self.definition
            .insert("description".into(), description.into());
        self
    }

    /// A display name.
    #[must_use]
    pub fn title(mut self, title: &str) -> Prompt {
        self.definition.insert("title".into(), title.into());
        self
    }

    /// An argument. A `prompts/get` without a required one is refused with `-32602`.
    #[must_use]
    pub fn argument(mut self, name: &str, description: &str, required: bool) -> Prompt {
        let arguments = self
            .definition
            .entry("arguments")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = arguments {
            list.push(serde_json::json!({
                "name": name,
                "description": description,
                "required": required,
            }));
        }
        if required {
            self.required.push(name.into());
        }
        self
    }

    /// The first required argument missing from `args`.
    pub(crate) fn missing_argument(&self, args: &BTreeMap<String, String>) -> Option<&str> {
        self.required
            .iter()
            .find(|name| !args.contains_key(*name))
            .map(String::as_str)
    }
}
