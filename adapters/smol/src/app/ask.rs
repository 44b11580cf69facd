//! Asking the client for input, written once for both eras.
//!
//! A handler calls [`Context::input`](crate::Context::input) (or
//! [`Context::inputs`](crate::Context::inputs)) and gets the client's answer. In the session
//! era that is a request to the client, awaited. In 2026-07-28 a request cannot wait for its
//! client: the call fails with [`Error::InputRequired`](crate::Error::InputRequired), which the
//! handler passes on with `?`; the client answers and retries the whole request, and the handler
//! runs again from the start. This time the answers it asked for are there (this round's
//! `inputResponses`, and earlier rounds' from the sealed `requestState`), so it gets further,
//! over as many rounds as it asks. The server keeps nothing between rounds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// A request for the client: what [`Context::input`](crate::Context::input) asks.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRequest {
    method: &'static str,
    params: Value,
}

impl InputRequest {
    /// `elicitation/create` in form mode: asks the user for input matching `requested_schema`.
    /// The answer's `action` is `accept` (with `content`), `decline` or `cancel`.
    #[must_use]
    pub fn elicit(message: &str, requested_schema: Value) -> InputRequest {
        InputRequest {
            method: "elicitation/create",
            params: serde_json::json!({ "message": message, "requestedSchema": requested_schema }),
        }
    }

    /// `sampling/createMessage`: asks the client's model for a completion (`params` as the
    /// specification defines them: `messages`, `maxTokens`, ...).
    #[must_use]
    pub fn sample(params: Value) -> InputRequest {
        InputRequest {
            method: "sampling/createMessage",
            params,
        }
    }

    /// `roots/list`: asks for the client's roots.
    #[must_use]
    pub fn list_roots() -> InputRequest {
        InputRequest {
            method: "roots/list",
            params: serde_json::json!({}),
        }
    }

    /// The method the client runs.
    #[must_use]
    pub fn method(&self) -> &str {
        self.method
    }

    /// The params it runs it with.
    #[must_use]
    pub fn params(&self) -> &Value {
        &self.params
    }

    /// The client capability the request needs.
    pub(crate) fn capability(&self) -> &'static str {
        match self.method {
            "elicitation/create" => "elicitation",
            "sampling/createMessage" => "sampling",
            _ => "roots",
        }
    }

    /// Whether `answer` has the shape of this request's result: a client that sends something
    /// else gets an error, not a handler running on garbage.
    fn accepts(&self, answer: &Value) -> bool {
        match self.method {
            "elicitation/create" => answer.get("action").is_some_and(Value::is_string),
            // One content block, or (2026-07-28) an array of them.
            "sampling/createMessage" => answer
                .get("content")
                .is_some_and(|c| c.is_object() || c.is_array()),
            _ => answer.get("roots").is_some_and(Value::is_array),
        }
    }
}

/// A 2026-07-28 request needs its client's input before it can complete: the handler passes
/// this on (with `?`) and the server answers `input_required`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRequired {
    pub(crate) requests: serde_json::Map<String, Value>,
    pub(crate) state: Vec<u8>,
}

/// What a 2026-07-28 request knows of its answers: this round's `inputResponses` and the
/// answers earlier rounds sealed into its state.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    answers: BTreeMap<String, Value>,
}

#[derive(Serialize, Deserialize, Default)]
struct SealedState {
    answers: BTreeMap<String, Value>,
}

#[derive(Deserialize, Default)]
struct Retry {
    #[serde(default, rename = "inputResponses")]
    input_responses: Option<BTreeMap<String, Value>>,
}

impl Answers {
    /// From the request's params and the state the engine opened. A malformed state or
    /// `inputResponses` counts as no answer: the client is asked again.
    pub(crate) fn new(params: Option<&str>, state: Option<&[u8]>) -> Answers {
        let mut answers = state
            .and_then(|s| serde_json::from_slice::<SealedState>(s).ok())
            .unwrap_or_default()
            .answers;
        let retry = params
            .and_then(|p| serde_json::from_str::<Retry>(p).ok())
            .unwrap_or_default();
        answers.extend(retry.input_responses.unwrap_or_default());
        Answers { answers }
    }

    /// The answers to `requests` (key and request), in order; or what to ask for: every
    /// request not answered yet, with a state that keeps the answers to every key asked so far
    /// (`asked`), and no other (a client's extra keys are not carried along).
    pub(crate) fn resolve(
        &self,
        requests: &[(String, InputRequest)],
        asked: &[String],
    ) -> Result<Vec<Value>, Error> {
        let mut found = Vec::with_capacity(requests.len());
        let mut missing = serde_json::Map::new();
        for (key, request) in requests {
            match self.answers.get(key) {
                Some(answer) if request.accepts(answer) => found.push(answer.clone()),
                Some(_) => {
                    return Err(Error::invalid_params(format!(
                        "inputResponses.{key} is not a {} result",
                        request.method
                    )));
                }
                None => {
                    missing.insert(
                        key.clone(),
                        serde_json::json!({ "method": request.method, "params": request.params }),
                    );
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let keep = SealedState {
            answers: asked
                .iter()
                .filter_map(|k| Some((k.clone(), self.answers.get(k)?.clone())))
                .collect(),
        };
        Err(Error::InputRequired(InputRequired {
            requests: missing,
            state: serde_json::to_vec(&keep).unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> (String, InputRequest) {
        (
            "user_name".into(),
            InputRequest::elicit("What is your name?", serde_json::json!({"type": "object"})),
        )
    }

    #[test]
    fn a_first_round_asks_and_a_retry_answers() {
        let first = Answers::new(None, None);
        let Err(Error::InputRequired(ask)) = first.resolve(&[name()], &["user_name".into()]) else {
            panic!("asks");
        };
        assert_eq!(ask.requests["user_name"]["method"], "elicitation/create");
        let params =
            r#"{"inputResponses":{"user_name":{"action":"accept","content":{"name":"A"}}}}"#;
        let retry = Answers::new(Some(params), Some(&ask.state));
        let got = retry.resolve(&[name()], &["user_name".into()]).unwrap();
        assert_eq!(got[0]["content"]["name"], "A");
    }

    #[test]
    fn earlier_answers_ride_in_the_state_and_extra_keys_do_not() {
        let params =
            r#"{"inputResponses":{"user_name":{"action":"accept","content":{}},"extra":{"x":1}}}"#;
        let round = Answers::new(Some(params), None);
        let color = (
            "color".to_string(),
            InputRequest::elicit("Color?", serde_json::json!({})),
        );
        let asked = ["user_name".to_string(), "color".to_string()];
        let Err(Error::InputRequired(ask)) = round.resolve(&[name(), color.clone()], &asked) else {
            panic!("asks for the color");
        };
        assert_eq!(ask.requests.len(), 1);
        let state: Value = serde_json::from_slice(&ask.state).unwrap();
        assert!(state["answers"].get("user_name").is_some());
        assert!(state["answers"].get("extra").is_none());
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_an_error() {
        let params = r#"{"inputResponses":{"user_name":12345}}"#;
        let round = Answers::new(Some(params), None);
        assert!(matches!(
            round.resolve(&[name()], &["user_name".into()]),
            Err(Error::Rpc { code: -32602, .. })
        ));
        let null = Answers::new(Some(r#"{"inputResponses":null}"#), None);
        assert!(matches!(
            null.resolve(&[name()], &["user_name".into()]),
            Err(Error::InputRequired(_))
        ));
    }
}
