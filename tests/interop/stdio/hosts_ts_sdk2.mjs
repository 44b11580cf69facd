// A real host launches the server over stdio: the TypeScript SDK 2.4 `StdioClientTransport`
// (@modelcontextprotocol/client/stdio; stderr piped and drained) and `Client` pinned to
// protocol revision 2026-07-28. The SDK first spawns a throwaway sibling of the server for its
// `server/discover` probe and ends it with stdin closed and SIGTERM at once (SIGKILL after 1 s),
// then spawns the server it keeps, which gets no initialize: every request carries its `_meta`.
// It lists the tools, calls `echo` and `test_tool_with_progress` (at least one progress
// notification must arrive), and closes; then nothing it launched may be left.
//
// Usage: node hosts_ts_sdk2.mjs COMMAND [ARGS...]     e.g. .../mcpwire serve --stdio

import { check, marked, markerEnv, recordSpawns, run, serverCommand, settles, state, children, within } from './host.mjs';

const spawned = recordSpawns();
const { Client } = await import('@modelcontextprotocol/client');
const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');

const { command, args } = serverCommand('node hosts_ts_sdk2.mjs COMMAND [ARGS...]');
const CALL = { timeout: 15000 };

await run('stdio host: TypeScript SDK 2.4 StdioClientTransport, pinned to 2026-07-28', 60000, async () => {
  const transport = new StdioClientTransport({ command, args, env: markerEnv, stderr: 'pipe' });
  let stderrBytes = 0;
  transport.stderr.on('data', (chunk) => {
    stderrBytes += chunk.length;
  });
  const transportErrors = [];
  const client = new Client({ name: 'mcpwire-stdio-host', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  // The 2.4 client handles a notification in a microtask and a response at once, so a progress
  // notification read in the same chunk as its response (written before it: the order on the
  // pipe is right) finds its handler gone and is reported "unknown token". That is the SDK's
  // race, not the server's; every other error counts.
  client.onerror = (error) => {
    if (!String(error).includes('progress notification for an unknown token')) {
      transportErrors.push(String(error));
    }
  };

  await within(15000, 'connect', client.connect(transport));
  check(client.getNegotiatedProtocolVersion() === '2026-07-28', 'speaks 2026-07-28',
    client.getNegotiatedProtocolVersion());
  check(client.getProtocolEra() === 'modern', 'the protocol era is modern', client.getProtocolEra());
  const pid = transport.pid;
  check(spawned.length >= 1 && spawned.at(-1).pid === pid, 'the transport\'s server is the last process spawned',
    { pid, spawned });
  const probes = spawned.filter((s) => s.pid !== pid);
  console.log(`# ${probes.length} discover sibling(s) spawned before the server: ${JSON.stringify(probes)}`);
  check(probes.every((s) => state(s.pid) === undefined), 'every discover sibling is reaped once connected',
    probes.map((s) => ({ ...s, state: state(s.pid) })));
  check(probes.every((s) => s.exit !== undefined && s.exit.signal !== 'SIGKILL'),
    'every discover sibling ended on stdin EOF or SIGTERM, not the SDK\'s SIGKILL', probes);
  const running = marked();
  check(running.length === 1 && running[0].pid === pid, 'exactly one process with the marker runs: the server',
    running);

  const { tools } = await client.listTools(undefined, CALL);
  const names = tools.map((t) => t.name);
  check(names.includes('echo') && names.includes('test_tool_with_progress'),
    'tools/list has echo and test_tool_with_progress', names);

  const text = 'stdio grüße 2.4';
  const echo = await client.callTool({ name: 'echo', arguments: { text } }, CALL);
  check(!echo.isError && echo.content?.[0]?.text === text, 'echo returns its text', echo);

  const progress = [];
  const result = await client.callTool({ name: 'test_tool_with_progress', arguments: {} },
    { ...CALL, onprogress: (p) => progress.push(p) });
  check(!result.isError, 'test_tool_with_progress succeeds', result);
  check(progress.length >= 1, 'at least one progress notification arrives', progress);

  await within(10000, 'close', client.close());
  check(await settles(() => spawned.every((s) => state(s.pid) === undefined), 5000),
    'after close every process the SDK spawned is reaped', spawned.map((s) => ({ ...s, state: state(s.pid) })));
  const server = spawned.find((s) => s.pid === pid);
  check(server?.exit?.code === 0 && server?.exit?.signal === null,
    'the server exited 0 on stdin EOF, before any signal', server?.exit);
  check(await settles(() => marked().length === 0, 5000), 'no process with the marker is left', marked());
  check(children().length === 0, 'no child of the host is left', children());
  check(transportErrors.length === 0, 'the transport reported no errors', transportErrors);
  console.log(`# server stderr: ${stderrBytes} bytes, drained`);
});
