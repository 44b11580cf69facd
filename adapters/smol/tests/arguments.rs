//! What a model reads of a tool's arguments: the schema published for optional fields, and an
//! error that names the argument to fix; and `null` where a client means "none".

mod common;

use common::{InProcess, Session, result_text};
use mcpwire_smol::{
    App, Content, Context, Error, Prompt, PromptMessage, PromptResult, Tool, ToolResult,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Unit {
    Metres,
    Feet,
}

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)] // read only by serde: the test is what it accepts
struct Point {
    x: f64,
    y: f64,
}

#[derive(Deserialize, JsonSchema)]
struct Measure {
    /// How many.
    count: Option<u32>,
    /// In what.
    unit: Option<Unit>,
    /// Where.
    at: Option<Point>,
    points: Vec<Point>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum Limit {
    Count(u32),
    Unlimited(()),
}

#[derive(Deserialize, JsonSchema)]
struct Deep {
    /// null is how a caller says "unlimited": the schema must keep it.
    limit: Limit,
    /// Items may be null.
    values: Vec<Option<i64>>,
    #[serde(default)]
    page: Option<u32>,
}

fn app() -> App {
    App::builder("arguments", "1")
        .tool(Tool::new("add", |args: Add, _cx: Context| async move {
            Ok::<_, Error>(ToolResult::text((args.a + args.b).to_string()))
        }))
        .tool(Tool::new(
            "measure",
            |args: Measure, _cx: Context| async move {
                Ok::<_, Error>(ToolResult::text(format!(
                    "{:?} {} {} {}",
                    args.count,
                    args.unit.is_some(),
                    args.at.is_some(),
                    args.points.len()
                )))
            },
        ))
        .tool(Tool::new("deep", |args: Deep, _cx: Context| async move {
            let limit = match args.limit {
                Limit::Count(n) => n.to_string(),
                Limit::Unlimited(()) => "unlimited".into(),
            };
            Ok::<_, Error>(ToolResult::text(format!(
                "{limit} {:?} {:?}",
                args.values, args.page
            )))
        }))
        .prompt(
            Prompt::new("greet", |_args, _cx: Context| async move {
                Ok::<_, Error>(PromptResult::new(vec![PromptMessage::user(Content::text(
                    "Hello",
                ))]))
            })
            .description("Greets"),
        )
        .build()
}

fn schema_of<'a>(tools: &'a Value, name: &str) -> &'a Value {
    tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .map(|t| &t["inputSchema"])
        .unwrap()
}

/// Whether `null` is offered anywhere in `schema`.
fn offers_null(schema: &Value) -> bool {
    match schema {
        Value::Array(items) => items.iter().any(offers_null),
        Value::Object(object) => {
            object.get("type").is_some_and(|t| {
                t == "null" || t.as_array().is_some_and(|a| a.contains(&json!("null")))
            }) || object
                .get("enum")
                .and_then(Value::as_array)
                .is_some_and(|e| e.contains(&Value::Null))
                || object.values().any(offers_null)
        }
        _ => false,
    }
}

#[test]
fn an_argument_error_names_the_argument() {
    let server = InProcess::serve(app());
    let mut session = Session::open(server.addr);
    let wrong = session.call(
        "tools/call",
        json!({"name":"add","arguments":{"a":1,"b":"x"}}),
    );
    assert_eq!(wrong[0]["result"]["isError"], true, "{wrong:?}");
    let text = result_text(&wrong[0]);
    assert_eq!(
        text,
        "Invalid arguments: b: invalid type: string \"x\", expected i64"
    );
    let nested = session.call(
        "tools/call",
        json!({"name":"measure","arguments":{"points":[{"x":1,"y":2},{"x":1,"y":"2"}]}}),
    );
    assert!(
        result_text(&nested[0]).starts_with("Invalid arguments: points[1].y: invalid type"),
        "{nested:?}"
    );
    let missing = session.call("tools/call", json!({"name":"add","arguments":{"a":1}}));
    assert_eq!(
        result_text(&missing[0]),
        "Invalid arguments: missing field `b`"
    );
    let right = session.call(
        "tools/call",
        json!({"name":"add","arguments":{"a":1,"b":2}}),
    );
    assert_eq!(result_text(&right[0]), "3");
    server.stop();
}

#[test]
fn optional_fields_publish_their_own_type_and_still_take_null() {
    let server = InProcess::serve(app());
    let mut session = Session::open(server.addr);
    let tools = session.call("tools/list", json!({}));
    let schema = schema_of(&tools[0], "measure");
    assert!(!offers_null(schema), "{schema:#}");
    let properties = &schema["properties"];
    assert_eq!(properties["count"]["type"], "integer", "{schema:#}");
    assert_eq!(properties["count"]["description"], "How many.");
    // An optional enum or struct is its definition, with the field's description beside it.
    assert!(properties["unit"]["$ref"].is_string(), "{schema:#}");
    assert_eq!(properties["unit"]["description"], "In what.");
    assert!(properties["at"]["$ref"].is_string(), "{schema:#}");
    assert_eq!(schema["required"], json!(["points"]), "{schema:#}");

    let absent = session.call(
        "tools/call",
        json!({"name":"measure","arguments":{"points":[]}}),
    );
    assert_eq!(result_text(&absent[0]), "None false false 0");
    let null = session.call(
        "tools/call",
        json!({"name":"measure","arguments":{"count":null,"unit":null,"at":null,"points":[]}}),
    );
    assert_eq!(result_text(&null[0]), "None false false 0", "{null:?}");
    let given = session.call(
        "tools/call",
        json!({"name":"measure","arguments":{"count":3,"unit":"feet","at":{"x":0,"y":0},"points":[]}}),
    );
    assert_eq!(result_text(&given[0]), "Some(3) true true 0");
    server.stop();
}

#[test]
fn a_null_that_serde_needs_stays_in_the_schema() {
    let server = InProcess::serve(app());
    let mut session = Session::open(server.addr);
    let tools = session.call("tools/list", json!({}));
    let schema = schema_of(&tools[0], "deep");
    // The optional argument loses its null, and its null default with it.
    assert_eq!(
        schema["properties"]["page"]["type"], "integer",
        "{schema:#}"
    );
    assert!(
        schema["properties"]["page"].get("default").is_none(),
        "{schema:#}"
    );
    // A required argument and the items of a list keep theirs.
    assert!(offers_null(&schema["properties"]["values"]), "{schema:#}");
    assert!(offers_null(&schema["$defs"]), "{schema:#}");
    let unlimited = session.call(
        "tools/call",
        json!({"name":"deep","arguments":{"limit":null,"values":[1,null]}}),
    );
    assert_eq!(result_text(&unlimited[0]), "unlimited [Some(1), None] None");
    server.stop();
}

#[test]
fn null_prompt_arguments_are_no_arguments() {
    let server = InProcess::serve(app());
    let mut session = Session::open(server.addr);
    let got = session.call("prompts/get", json!({"name":"greet","arguments":null}));
    assert_eq!(
        got[0]["result"]["messages"][0]["content"]["text"], "Hello",
        "{got:?}"
    );
    let wrong = session.call("prompts/get", json!({"name":"greet","arguments":[1]}));
    assert_eq!(wrong[0]["error"]["code"], -32602, "{wrong:?}");
    let message = wrong[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Invalid params: arguments: invalid type"),
        "{message}"
    );
    server.stop();
}
