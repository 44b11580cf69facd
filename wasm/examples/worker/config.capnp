# workerd config for the example worker: `workerd serve examples/worker/config.capnp` from
# wasm/ (after `npm run build`). Listens on 127.0.0.1:8787; `--socket-addr http=127.0.0.1:0`
# picks another address. Module names mirror the paths under wasm/, so that the worker's
# relative imports resolve as they do on disk.

using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "mcp", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "mcp")],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "examples/worker/worker.js", esModule = embed "worker.js"),
    (name = "examples/demo.js", esModule = embed "../demo.js"),
    (name = "js/index.js", esModule = embed "../../js/index.js"),
    (name = "js/application.js", esModule = embed "../../js/application.js"),
    (name = "js/auth.js", esModule = embed "../../js/auth.js"),
    (name = "pkg/mcpwire_wasm.js", esModule = embed "../../pkg/mcpwire_wasm.js"),
    (name = "pkg/mcpwire_wasm_bg.wasm", wasm = embed "../../pkg/mcpwire_wasm_bg.wasm"),
  ],
  compatibilityDate = "2026-11-01",
  bindings = [
    (name = "MCP_STATE_KEY", fromEnvironment = "MCP_STATE_KEY"),
    (name = "MCP_KEEPALIVE_MS", fromEnvironment = "MCP_KEEPALIVE_MS"),
  ],
);
