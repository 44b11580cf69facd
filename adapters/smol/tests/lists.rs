//! `*/list` in pages: a list longer than the page size is answered a page at a time, with an
//! opaque `nextCursor` that walks it to its end, and a cursor never given out is refused.

mod common;

use common::{InProcess, Session};
use mcpwire_smol::{App, Context, Error, NoArgs, Prompt, PromptResult, Tool, ToolResult};
use serde_json::{Value, json};

fn app(tools: usize, prompts: usize, page_size: usize) -> App {
    let mut builder = App::builder("lists", "1").page_size(page_size);
    for i in 0..tools {
        builder = builder.tool(Tool::new(
            &format!("tool{i:03}"),
            |_: NoArgs, _cx: Context| async { Ok::<_, Error>(ToolResult::text("ok")) },
        ));
    }
    for i in 0..prompts {
        builder = builder.prompt(Prompt::new(&format!("prompt{i:02}"), |_, _cx| async {
            Ok::<_, Error>(PromptResult::new(Vec::new()))
        }));
    }
    builder.build()
}

/// Every name `method` lists under `key`, page after page, and the number of pages.
fn walk(session: &mut Session, method: &str, key: &str) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let answer = session.call(method, params);
        let result = &answer[0]["result"];
        pages += 1;
        for item in result[key]
            .as_array()
            .unwrap_or_else(|| panic!("{answer:?}"))
        {
            names.push(item["name"].as_str().unwrap().to_string());
        }
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_string()),
            None => return (names, pages),
        }
        assert!(pages < 100, "the cursors never end");
    }
}

#[test]
fn a_list_at_the_page_size_is_one_page_and_one_past_it_is_two() {
    let server = InProcess::serve(app(3, 4, 3));
    let mut session = Session::open(server.addr);
    let (tools, pages) = walk(&mut session, "tools/list", "tools");
    assert_eq!(
        (tools, pages),
        (
            vec!["tool000".into(), "tool001".into(), "tool002".into()],
            1
        )
    );
    let (prompts, pages) = walk(&mut session, "prompts/list", "prompts");
    assert_eq!(pages, 2);
    assert_eq!(prompts, ["prompt00", "prompt01", "prompt02", "prompt03"]);
    server.stop();
}

#[test]
fn the_cursors_walk_a_long_list_once_and_a_foreign_cursor_is_refused() {
    let server = InProcess::serve(app(250, 1, 100));
    let mut session = Session::open(server.addr);
    let (tools, pages) = walk(&mut session, "tools/list", "tools");
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..250).map(|i| format!("tool{i:03}")).collect();
    assert_eq!(tools, expected, "each tool once, in order");
    let null = session.call("tools/list", json!({"cursor": null}));
    assert_eq!(null[0]["result"]["tools"].as_array().unwrap().len(), 100);
    for bad in [json!("nonsense"), json!("page-3"), json!(7)] {
        let refused = session.call("tools/list", json!({"cursor": bad}));
        assert_eq!(refused[0]["error"]["code"], -32602, "{bad}: {refused:?}");
    }
    server.stop();
}
