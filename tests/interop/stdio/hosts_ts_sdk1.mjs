// A real host launches the server over stdio: the TypeScript SDK 1.32 `StdioClientTransport`
// (its stderr piped and drained) and `Client`, in the session era. It lists the tools, calls
// `echo` and `test_tool_with_progress` (at least one progress notification must arrive), and
// closes; then nothing it launched may be left: the spawned pid reaped, no process carrying the
// run's marker, no child of this process. The server is expected to exit on its own once its
// stdin closes (the SDK sends SIGTERM only 2 s later).
//
// Usage: node hosts_ts_sdk1.mjs COMMAND [ARGS...]     e.g. .../mcpwire serve --stdio

import { check, marked, markerEnv, recordSpawns, run, serverCommand, settles, state, children, within } from './host.mjs';

const spawned = recordSpawns();
const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');

const { command, args } = serverCommand('node hosts_ts_sdk1.mjs COMMAND [ARGS...]');
const CALL = { timeout: 15000 };

await run('stdio host: TypeScript SDK 1.32 StdioClientTransport', 60000, async () => {
  const transport = new StdioClientTransport({ command, args, env: markerEnv, stderr: 'pipe' });
  let stderrBytes = 0;
  // Drained, or a chatty server would block on a full pipe.
  transport.stderr.on('data', (chunk) => {
    stderrBytes += chunk.length;
  });
  const transportErrors = [];
  const client = new Client({ name: 'mcpwire-stdio-host', version: '1.0.0' });
  // The SDK handles a notification in a microtask and a response at once
  // (shared/protocol.js `_onnotification`), so a progress notification read in the same chunk
  // as its response (written before it: the order on the pipe is right) finds its handler gone
  // and is reported "unknown token". That is the SDK's race, not the server's; every other
  // error counts.
  client.onerror = (error) => {
    if (!String(error).includes('progress notification for an unknown token')) {
      transportErrors.push(String(error));
    }
  };

  await within(15000, 'connect', client.connect(transport));
  check(client.getServerVersion()?.name !== undefined, 'initialize is answered with serverInfo', client.getServerVersion());
  const pid = transport.pid;
  check(spawned.length === 1 && spawned[0].pid === pid, 'one process was spawned, the transport\'s', { pid, spawned });
  const running = marked();
  check(running.some((p) => p.pid === pid), 'the server runs with the marker in its environment', running);

  const { tools } = await client.listTools(undefined, CALL);
  const names = tools.map((t) => t.name);
  check(names.includes('echo') && names.includes('test_tool_with_progress'),
    'tools/list has echo and test_tool_with_progress', names);

  const text = 'stdio grüße 1.32';
  const echo = await client.callTool({ name: 'echo', arguments: { text } }, undefined, CALL);
  check(!echo.isError && echo.content?.[0]?.text === text, 'echo returns its text', echo);

  const progress = [];
  const result = await client.callTool({ name: 'test_tool_with_progress', arguments: {} }, undefined,
    { ...CALL, onprogress: (p) => progress.push(p) });
  check(!result.isError, 'test_tool_with_progress succeeds', result);
  check(progress.length >= 1, 'at least one progress notification arrives', progress);

  await within(10000, 'close', client.close());
  check(await settles(() => spawned.every((s) => state(s.pid) === undefined), 5000),
    'after close the server process is reaped', spawned.map((s) => ({ ...s, state: state(s.pid) })));
  check(spawned[0]?.exit?.code === 0 && spawned[0]?.exit?.signal === null,
    'the server exited 0 on stdin EOF, before any signal', spawned[0]?.exit);
  check(await settles(() => marked().length === 0, 5000), 'no process with the marker is left', marked());
  check(children().length === 0, 'no child of the host is left', children());
  check(transportErrors.length === 0, 'the transport reported no errors', transportErrors);
  console.log(`# server stderr: ${stderrBytes} bytes, drained`);
});
