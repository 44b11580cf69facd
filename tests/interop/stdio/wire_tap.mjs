// Sits between a host and the server it launches, to show what crossed the pipes when the host
// itself prints nothing of it (the Inspector CLI runs with progress off): runs COMMAND with its
// stderr inherited, passes stdin and stdout through unchanged and appends each line to LOG as
// `> line` (host to server) or `< line` (server to host). The server's stdin is closed when the
// host closes the tap's; SIGTERM and SIGINT are passed on; the tap exits as the server did.
//
// Usage: node wire_tap.mjs LOG COMMAND [ARGS...]

import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const [log, command, ...args] = process.argv.slice(2);
const server = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });

function tee(prefix) {
  let partial = '';
  return (chunk) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop();
    for (const line of lines) appendFileSync(log, `${prefix} ${line}\n`);
  };
}

const toServer = tee('>');
process.stdin.on('data', (chunk) => {
  toServer(chunk);
  server.stdin.write(chunk);
});
process.stdin.on('end', () => server.stdin.end());
server.stdin.on('error', () => {}); // the server went first: its exit ends the tap
const toHost = tee('<');
server.stdout.on('data', (chunk) => {
  toHost(chunk);
  process.stdout.write(chunk);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.kill(signal));
server.on('close', (code, signal) => {
  process.stdin.destroy();
  if (signal) {
    process.kill(process.pid, signal);
  } else {
    process.exitCode = code ?? 1;
  }
});
