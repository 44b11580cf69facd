//! The library API served in-process: a handler that panics still answers, and the server's
//! handle shuts it down with every task ended.

mod common;

use std::time::Duration;

use common::{Session, result_text};
use mcpwire_smol::{App, Context, Error, NoArgs, Server, Tool, ToolResult};
use serde_json::json;

#[test]
fn a_panicking_handler_answers_with_an_internal_error() {
    let app = App::builder("panics", "1")
        .tool(
            Tool::new("boom", |_: NoArgs, _cx: Context| async {
                if true {
                    panic!("a bug in the application");
                }
                Ok::<_, Error>(ToolResult::text("unreachable"))
            })
            .description("Panics"),
        )
        .tool(
            Tool::new("fine", |_: NoArgs, _cx: Context| async {
                Ok::<_, Error>(ToolResult::text("still serving"))
            })
            .description("Works"),
        )
        .build();
    let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(app).handle_signals(false);
    let handle = server.handle();
    let serving = std::thread::spawn(move || smol::block_on(server.serve(listener)));

    let mut session = Session::open(addr);
    let boom = session.call("tools/call", json!({"name":"boom"}));
    assert_eq!(boom[0]["error"]["code"], -32603, "{boom:?}");
    let fine = session.call("tools/call", json!({"name":"fine"}));
    assert_eq!(result_text(&fine[0]), "still serving");

    let stats = smol::block_on(handle.stats()).unwrap();
    assert_eq!(stats.engine.inflight_requests, 0);
    smol::block_on(handle.shutdown(Duration::from_secs(1))).unwrap();
    serving.join().unwrap().unwrap();
    assert!(smol::block_on(handle.stats()).is_err(), "stopped");
}
