// Shared by the Node hosts: TAP-ish checks under a whole-run deadline, and what a host
// launched, found from /proc. Every server a host launches gets the environment variable
// MCPWIRE_STDIO_CHILD=<marker>, so each process that carries it (the server, and anything it
// started) is found by its /proc/<pid>/environ whatever the command was; and where the host
// spawns through node:child_process, every pid it spawned is recorded too.

import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';

/** The name of the variable that marks a launched server. */
export const MARKER_VARIABLE = 'MCPWIRE_STDIO_CHILD';

/** This run's marker: given by run_hosts.sh in MCPWIRE_STDIO_MARKER, or made here. */
export const marker = process.env.MCPWIRE_STDIO_MARKER || `host-${process.pid}-${Date.now()}`;

/** The environment entry to pass to the server. */
export const markerEnv = { [MARKER_VARIABLE]: marker };

/** The server's command line, from this script's arguments. */
export function serverCommand(usage) {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return { command, args };
}

function read(path) {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined; // gone, or not ours to read
  }
}

/** Live processes (zombies excluded: their environ is empty) carrying this run's marker. */
export function marked() {
  const entry = `${MARKER_VARIABLE}=${marker}`;
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const environ = read(`/proc/${name}/environ`);
    if (environ !== undefined && environ.split('\0').includes(entry)) {
      found.push({ pid: Number(name), cmdline: (read(`/proc/${name}/cmdline`) ?? '').split('\0').join(' ').trim() });
    }
  }
  return found;
}

/** `/proc/<pid>/stat`'s state letter (Z for a zombie), or undefined once the pid is reaped. */
export function state(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

/** This process's children, zombies included. */
export function children() {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (stat === undefined) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.pid) found.push({ pid: Number(name), state: fields[0] });
  }
  return found;
}

/**
 * Every process spawned through node:child_process from now on, with its pid and, once it has
 * exited, how (`exit: {code, signal}`) (the SDKs spawn through
 * cross-spawn, which calls `child_process.spawn` at each call).
 */
export function recordSpawns() {
  const childProcess = createRequire(import.meta.url)('node:child_process');
  const spawned = [];
  const original = childProcess.spawn;
  childProcess.spawn = function spawn(...args) {
    const child = original.apply(this, args);
    const entry = { pid: child.pid, command: [args[0], ...(Array.isArray(args[1]) ? args[1] : [])].join(' ') };
    child.once('exit', (code, signal) => {
      entry.exit = { code, signal };
    });
    spawned.push(entry);
    return child;
  };
  return spawned;
}

/** Polls `poll` every 20 ms until it returns true, for at most `ms`; returns its last answer. */
export async function settles(poll, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (poll()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Rejects if `promise` has not settled within `ms`. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let passed = 0;
let failed = 0;

/** Records one check: `ok - what`, or `not ok - what: detail`. */
export function check(ok, what, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok - ${what}`);
  } else {
    failed += 1;
    console.log(`not ok - ${what}: ${JSON.stringify(detail)}`);
  }
  return ok;
}

/**
 * Runs `body` for at most `ms`, prints the totals under `name`, and exits (1 on any failure).
 * Past the deadline whatever still carries the marker is killed, so a hung host leaves nothing.
 */
export async function run(name, ms, body) {
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(() => resolve('deadline'), ms);
  });
  try {
    const outcome = await Promise.race([body().then(() => 'done'), deadline]);
    if (outcome === 'deadline') check(false, `the host finished within its ${ms / 1000} s deadline`, marked());
  } catch (error) {
    check(false, 'the host ran to the end', String(error?.stack ?? error));
  }
  clearTimeout(timer);
  for (const { pid } of marked()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  console.log(`${name}: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
