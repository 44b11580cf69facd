//! What tools, resources and prompts return: MCP content blocks and results, serialized exactly
//! as the schema names them, and read back from that JSON (results kept as data, such as the
//! conformance fixtures).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One block of content in a tool result or a prompt message.
///
/// # Examples
///
/// ```
/// use mcpwire_smol::Content;
///
/// let text = Content::text("hello");
/// assert_eq!(serde_json::to_value(&text).unwrap()["type"], "text");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, base64-encoded.
    Image {
        /// The bytes, base64.
        data: String,
        /// Such as `image/png`.
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    /// Audio, base64-encoded.
    Audio {
        /// The bytes, base64.
        data: String,
        /// Such as `audio/wav`.
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    /// A resource's contents, embedded.
    Resource {
        /// The contents.
        resource: ResourceContents,
    },
}

impl Content {
    /// Text content.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Content {
        Content::Text { text: text.into() }
    }

    /// An image from base64 data.
    #[must_use]
    pub fn image(base64: impl Into<String>, mime_type: impl Into<String>) -> Content {
        Content::Image {
            data: base64.into(),
            mime_type: mime_type.into(),
        }
    }

    /// Audio from base64 data.
    #[must_use]
    pub fn audio(base64: impl Into<String>, mime_type: impl Into<String>) -> Content {
        Content::Audio {
            data: base64.into(),
            mime_type: mime_type.into(),
        }
    }

    /// An embedded resource.
    #[must_use]
    pub fn resource(contents: ResourceContents) -> Content {
        Content::Resource { resource: contents }
    }
}

/// A resource's contents: text or base64 bytes, with its URI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// Its MIME type, if known.
    #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The contents.
    #[serde(flatten)]
    pub body: ResourceBody,
}

/// Text or binary contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ResourceBody {
    /// UTF-8 text.
    #[serde(rename = "text")]
    Text(String),
    /// Bytes, base64-encoded.
    #[serde(rename = "blob")]
    Blob(String),
}

impl ResourceContents {
    /// Text contents.
    #[must_use]
    pub fn text(uri: impl Into<String>, mime_type: &str, text: impl Into<String>) -> Self {
        ResourceContents {
            uri: uri.into(),
            mime_type: Some(mime_type.into()),
            body: ResourceBody::Text(text.into()),
        }
    }

    /// Binary contents from base64 data.
    #[must_use]
    pub fn blob(uri: impl Into<String>, mime_type: &str, base64: impl Into<String>) -> Self {
        ResourceContents {
            uri: uri.into(),
            mime_type: Some(mime_type.into()),
            body: ResourceBody::Blob(base64.into()),
        }
    }
}

/// The result of a tool call.
///
/// A failure the model should see (bad input, a failed operation) is a result with
/// `is_error` set, not a protocol error: return [`Error::tool`](crate::Error::tool) or build
/// one with [`ToolResult::error`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// What the tool produced.
    pub content: Vec<Content>,
    /// Structured output, matching the tool's output schema if it declares one.
    #[serde(
        rename = "structuredContent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub structured_content: Option<Value>,
    /// The call failed.
    #[serde(
        rename = "isError",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub is_error: bool,
}

impl ToolResult {
    /// A result of one text block.
    #[must_use]
    pub fn text(text: impl Into<String>) -> ToolResult {
        ToolResult::content(vec![Content::text(text)])
    }

    /// A result of these blocks.
    #[must_use]
    pub fn content(content: Vec<Content>) -> ToolResult {
        ToolResult {
            content,
            ..ToolResult::default()
        }
    }

    /// A failed call, explained in one text block.
    #[must_use]
    pub fn error(message: impl Into<String>) -> ToolResult {
        ToolResult {
            is_error: true,
            ..ToolResult::text(message)
        }
    }

    /// Adds structured output (and, as the specification recommends, its JSON text as a text
    /// block when there is no content yet).
    #[must_use]
    pub fn with_structured(mut self, value: Value) -> ToolResult {
        if self.content.is_empty() {
            self.content.push(Content::text(value.to_string()));
        }
        self.structured_content = Some(value);
        self
    }
}

/// Who speaks a prompt message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user.
    User,
    /// The assistant.
    Assistant,
}

/// One message of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptMessage {
    /// Who speaks it.
    pub role: Role,
    /// What is said.
    pub content: Content,
}

impl PromptMessage {
    /// A user message.
    #[must_use]
    pub fn user(content: Content) -> PromptMessage {
        PromptMessage {
            role: Role::User,
            content,
        }
    }

    /// An assistant message.
    #[must_use]
    pub fn assistant(content: Content) -> PromptMessage {
        PromptMessage {
            role: Role::Assistant,
            content,
        }
    }
}

/// The result of `prompts/get`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptResult {
    /// A description of the prompt as filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The messages.
    pub messages: Vec<PromptMessage>,
}

impl PromptResult {
    /// A prompt of these messages.
    #[must_use]
    pub fn new(messages: Vec<PromptMessage>) -> PromptResult {
        PromptResult {
            description: None,
            messages,
        }
    }
}

/// The result of `completion/complete`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Completion {
    /// Suggested values, at most 100.
    pub values: Vec<String>,
    /// How many values exist in all, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// More values exist than were returned.
    #[serde(rename = "hasMore", skip_serializing_if = "std::ops::Not::not")]
    pub has_more: bool,
}
