// A real host launches the server over stdio: the MCP Inspector 2.x CLI
// (`inspector --cli … -- COMMAND ARGS`), once per method as it is used, each run a fresh server
// that the Inspector must end as it exits. In the session era (the CLI's default for a command
// line): tools/list, tools/call echo, and tools/call test_tool_with_progress; then the same
// through a read-only --config file whose server says "protocolEra": "modern" (2026-07-28).
//
// The CLI prints no progress (it runs its client with progress off), so the progress call
// asks for it with `--tool-metadata progressToken=…` and runs the server under wire_tap.mjs,
// which records what crossed the pipes: at least one notifications/progress for that token
// must have reached the Inspector, and the call must still succeed. The same record shows
// the era: an initialize in the session era; none in 2026-07-28, where every request carries
// `_meta["io.modelcontextprotocol/protocolVersion"]`.
//
// After each run: the CLI exited 0 within its deadline and no process carrying the run's
// marker (MCPWIRE_STDIO_CHILD, passed with -e or the config's env) is left. The CLI gets a
// HOME of its own, so nothing it stores lands in the real one.
//
// Usage: node hosts_inspector.mjs COMMAND [ARGS...]     e.g. .../mcpwire serve --stdio

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, marked, markerEnv, MARKER_VARIABLE, marker, run, serverCommand, settles } from './host.mjs';

const { command, args } = serverCommand('node hosts_inspector.mjs COMMAND [ARGS...]');
const inspector = fileURLToPath(new URL(
  '../node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js', import.meta.url));
const tap = fileURLToPath(new URL('./wire_tap.mjs', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'mcpwire-inspector-'));
process.on('exit', () => rmSync(home, { recursive: true, force: true }));
const RUN_MS = 30000;

/**
 * One CLI run: resolves with its exit status, parsed JSON stdout and stderr. It is over when the
 * CLI exits (a process it left behind holding the pipes must not hide its status: the marker
 * check finds that one), or at the deadline, when it is killed.
 */
function cli(cliArgs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [inspector, '--cli', '--format', 'json', '--connect-timeout', '15000', ...cliArgs], {
      env: { ...process.env, HOME: home, NO_COLOR: '1', MCP_INSPECTOR_SECRET_STORE: 'memory' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-65536);
    });
    const deadline = setTimeout(() => child.kill('SIGKILL'), RUN_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(deadline);
      const finish = () => {
        child.stdout.destroy();
        child.stderr.destroy();
        let json;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        const status = signal === 'SIGKILL' ? 'killed at the deadline' : (signal ?? code);
        resolve({ status, json, stdout, stderr });
      };
      // The rest of its output, unless something else holds the pipes open.
      const grace = setTimeout(finish, 2000);
      let open = 2;
      const closed = () => {
        open -= 1;
        if (open === 0) {
          clearTimeout(grace);
          finish();
        }
      };
      child.stdout.once('close', closed);
      child.stderr.once('close', closed);
    });
  });
}

/** The lines of a wire_tap.mjs record, parsed: `{to: 'server'|'host', message}`. */
function wire(log) {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => {
    let message;
    try {
      message = JSON.parse(line.slice(2));
    } catch {
      message = line.slice(2);
    }
    return { to: line.startsWith('>') ? 'server' : 'host', message };
  });
}

/** After a CLI run: it exited 0 and left no process with the marker. */
async function ended(what, outcome) {
  check(outcome.status === 0, `${what}: the Inspector exits 0`, { status: outcome.status, stdout: outcome.stdout, stderr: outcome.stderr.slice(-2000) });
  check(await settles(() => marked().length === 0, 5000), `${what}: no process with the marker is left`, marked());
  // Each run starts clean: what one left behind must not fail the next.
  for (const { pid } of marked()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

await run('stdio host: MCP Inspector CLI', 240000, async () => {
  for (const era of ['legacy', 'modern']) {
    const label = era === 'legacy' ? 'session era' : '2026-07-28';
    const config = join(home, `${era}.json`);
    // How the server is named to the CLI: a command line, or a --config file's entry.
    const target = (serverArgv) => {
      if (era === 'legacy') return ['-e', `${MARKER_VARIABLE}=${marker}`, '--', ...serverArgv];
      writeFileSync(config, JSON.stringify({
        mcpServers: {
          mcpwire: { command: serverArgv[0], args: serverArgv.slice(1), env: markerEnv, protocolEra: 'modern' },
        },
      }, null, 2));
      return ['--config', config, '--server', 'mcpwire'];
    };

    let outcome = await cli(['--method', 'tools/list', ...target([command, ...args])]);
    const names = (outcome.json?.result?.tools ?? []).map((t) => t.name);
    check(names.includes('echo') && names.includes('test_tool_with_progress'),
      `${label}: tools/list has echo and test_tool_with_progress`, names);
    await ended(`${label}: tools/list`, outcome);

    const text = `stdio grüße inspector ${era}`;
    outcome = await cli(['--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', `text=${text}`,
      ...target([command, ...args])]);
    const echoed = outcome.json?.result;
    check(echoed?.isError !== true && echoed?.content?.[0]?.text === text, `${label}: echo returns its text`, outcome.json);
    await ended(`${label}: tools/call echo`, outcome);

    const log = join(home, `wire-${era}.log`);
    const token = `inspector-progress-${era}`;
    outcome = await cli(['--method', 'tools/call', '--tool-name', 'test_tool_with_progress',
      '--tool-metadata', `progressToken=${token}`,
      ...target([process.execPath, tap, log, command, ...args])]);
    check(outcome.json?.result !== undefined && outcome.json.result.isError !== true,
      `${label}: test_tool_with_progress succeeds`, outcome.json);
    const crossed = wire(log);
    const progress = crossed.filter((m) => m.to === 'host' && m.message?.method === 'notifications/progress'
      && m.message.params?.progressToken === token);
    check(progress.length >= 1, `${label}: at least one progress notification reaches the Inspector`,
      crossed.filter((m) => m.to === 'host'));
    const requests = crossed.filter((m) => m.to === 'server' && m.message?.id !== undefined && m.message?.method);
    const initialize = requests.some((m) => m.message.method === 'initialize');
    if (era === 'legacy') {
      check(requests[0]?.message.method === 'initialize', `${label}: the Inspector opened with initialize`,
        requests.map((m) => m.message.method));
    } else {
      check(!initialize && requests.length > 0 && requests.every((m) =>
        m.message.params?._meta?.['io.modelcontextprotocol/protocolVersion'] === '2026-07-28'),
      `${label}: no initialize, every request carries protocolVersion 2026-07-28 in _meta`,
      requests.map((m) => m.message));
    }
    await ended(`${label}: tools/call test_tool_with_progress`, outcome);
  }
});
