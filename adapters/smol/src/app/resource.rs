//! Resources: fixed ones (static contents or a reader) and templates matched against a URI.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{BoxFuture, Error, ResourceContents};
use crate::Context;

type Reader = Arc<
    dyn Fn(
            String,
            BTreeMap<String, String>,
            Context,
        ) -> BoxFuture<Result<Vec<ResourceContents>, Error>>
        + Send
        + Sync,
>;

/// A resource at a fixed URI.
///
/// # Examples
///
/// ```
/// use mcpwire_smol::Resource;
///
/// let readme = Resource::text("file:///readme", "readme", "text/plain", "Hello.")
///     .description("What this server is");
/// assert_eq!(readme.uri(), "file:///readme");
/// ```
#[derive(Clone)]
pub struct Resource {
    pub(crate) uri: String,
    pub(crate) definition: Map<String, Value>,
    pub(crate) reader: Reader,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("definition", &self.definition)
            .finish_non_exhaustive()
    }
}

fn definition(key: &str, uri: &str, name: &str) -> Map<String, Value> {
    let mut definition = Map::new();
    definition.insert(key.into(), uri.into());
    definition.insert("name".into(), name.into());
    definition
}

impl Resource {
    /// Fixed text contents.
    #[must_use]
    pub fn text(uri: &str, name: &str, mime_type: &str, text: &str) -> Resource {
        let contents = ResourceContents::text(uri, mime_type, text);
        Resource::fixed(uri, name, mime_type, contents)
    }

    /// Fixed binary contents, given as base64.
    #[must_use]
    pub fn blob(uri: &str, name: &str, mime_type: &str, base64: &str) -> Resource {
        let contents = ResourceContents::blob(uri, mime_type, base64);
        Resource::fixed(uri, name, mime_type, contents)
    }

    fn fixed(uri: &str, name: &str, mime_type: &str, contents: ResourceContents) -> Resource {
        Resource::dynamic(uri, name, move |_cx| {
            let contents = contents.clone();
            async move { Ok(vec![contents]) }
        })
        .mime_type(mime_type)
    }

    /// Contents produced by `reader` on every read.
    pub fn dynamic<F, Fut>(uri: &str, name: &str, reader: F) -> Resource
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<ResourceContents>, Error>> + Send + 'static,
    {
        Resource {
            uri: uri.into(),
            definition: definition("uri", uri, name),
            reader: Arc::new(move |_uri, _vars, cx| Box::pin(reader(cx))),
        }
    }

    /// The URI.
    #[must_use]
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// What the resource is.
    #[must_use]
    pub fn description(mut self, description: &str) -> Resource {
        self.definition
            .insert("description".into(), description.into());
        self
    }

    /// A display name.
    #[must_use]
    pub fn title(mut self, title: &str) -> Resource {
        self.definition.insert("title".into(), title.into());
        self
    }

    /// The MIME type listed for it.
    #[must_use]
    pub fn mime_type(mut self, mime_type: &str) -> Resource {
        self.definition.insert("mimeType".into(), mime_type.into());
        self
    }
}

/// Resources whose URIs match a template such as `file:///{path}` (RFC 6570 simple
/// expressions: each `{name}` matches one or more characters other than `/`).
///
/// # Examples
///
/// ```
/// use mcpwire_smol::{Error, ResourceContents, ResourceTemplate};
///
/// let users = ResourceTemplate::new("users://{id}/profile", "profile", |uri, vars, _cx| async move {
///     Ok::<_, Error>(vec![ResourceContents::text(uri, "text/plain", format!("user {}", vars["id"]))])
/// });
/// assert!(users.matches("users://42/profile").is_some());
/// ```
#[derive(Clone)]
pub struct ResourceTemplate {
    pattern: Vec<Part>,
    pub(crate) definition: Map<String, Value>,
    pub(crate) reader: Reader,
}

impl std::fmt::Debug for ResourceTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceTemplate")
            .field("definition", &self.definition)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Variable(String),
}

fn parse_template(template: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if open > 0 {
            parts.push(Part::Literal(rest[..open].into()));
        }
        parts.push(Part::Variable(rest[open + 1..open + close].into()));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.into()));
    }
    parts
}

impl ResourceTemplate {
    /// A template read by `reader`, given the URI and the values of its variables.
    pub fn new<F, Fut>(uri_template: &str, name: &str, reader: F) -> ResourceTemplate
    where
        F: Fn(String, BTreeMap<String, String>, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<ResourceContents>, Error>> + Send + 'static,
    {
        ResourceTemplate {
            pattern: parse_template(uri_template),
            definition: definition("uriTemplate", uri_template, name),
            reader: Arc::new(move |uri, vars, cx| Box::pin(reader(uri, vars, cx))),
        }
    }

    /// What the resources are.
    #[must_use]
    pub fn description(mut self, description: &str) -> ResourceTemplate {
        self.definition
            .insert("description".into(), description.into());
        self
    }

    /// The MIME type of the resources.
    #[must_use]
    pub fn mime_type(mut self, mime_type: &str) -> ResourceTemplate {
        self.definition.insert("mimeType".into(), mime_type.into());
        self
    }

    /// The variables' values if `uri` matches.
    #[must_use]
    pub fn matches(&self, uri: &str) -> Option<BTreeMap<String, String>> {
        let mut vars = BTreeMap::new();
        let mut rest = uri;
        let mut parts = self.pattern.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(literal) => rest = rest.strip_prefix(literal.as_str())?,
                Part::Variable(name) => {
                    let segment_end = rest.find('/').unwrap_or(rest.len());
                    let end = match parts.peek() {
                        Some(Part::Literal(next)) => rest[..segment_end]
                            .find(next.as_str())
                            .or_else(|| next.starts_with('/').then_some(segment_end))?,
                        _ => segment_end,
                    };
                    if end == 0 {
                        return None;
                    }
                    vars.insert(name.clone(), rest[..end].to_string());
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(t: &str) -> ResourceTemplate {
        ResourceTemplate::new(t, "t", |_, _, _| async { Ok(Vec::new()) })
    }

    #[test]
    fn simple_expressions_match_one_segment() {
        let t = template("test://template/{id}/data");
        let vars = t.matches("test://template/42/data").unwrap();
        assert_eq!(vars["id"], "42");
        assert!(t.matches("test://template/4/2/data").is_none());
        assert!(t.matches("test://template//data").is_none());
        assert!(t.matches("test://template/42/data/more").is_none());
        assert!(t.matches("other://template/42/data").is_none());
    }

    #[test]
    fn variables_may_share_a_segment_with_literals() {
        let t = template("file:///{name}.{ext}");
        let vars = t.matches("file:///notes.txt").unwrap();
        assert_eq!(
            (vars["name"].as_str(), vars["ext"].as_str()),
            ("notes", "txt")
        );
        let tail = template("users://{id}");
        assert_eq!(tail.matches("users://7").unwrap()["id"], "7");
        assert!(tail.matches("users://7/x").is_none());
    }
}
