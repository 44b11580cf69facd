// The module under Deno and Bun, each serving with its own server: `Deno.serve(mcp.fetch)` and
// `Bun.serve({ fetch: mcp.fetch })`. Their linux-x64 builds come from the npm registry, pinned
// in test/runtimes/package.json (scripts/test.mjs installs them); elsewhere these tests skip.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BINARIES = {
  deno: 'runtimes/node_modules/@deno/linux-x64-glibc/deno',
  bun: 'runtimes/node_modules/@oven/bun-linux-x64/bin/bun',
};
const bin = (name) => fileURLToPath(new URL(BINARIES[name], import.meta.url));
const supported = process.platform === 'linux' && process.arch === 'x64';
const script = fileURLToPath(new URL('./runtimes/serve.mjs', import.meta.url));

for (const [runtime, args] of [
  ['deno', ['run', '--allow-read', '--allow-net', script]],
  ['bun', [script]],
]) {
  const skip = supported ? false : `no ${runtime} build is pinned for ${process.platform}-${process.arch}`;
  test(`${runtime} serves MCP with the module: streaming call, GET stream, DELETE then 404, close`, { skip }, () => {
    assert.ok(existsSync(bin(runtime)), `${bin(runtime)} is missing: run npm ci in test/runtimes`);
    const result = spawnSync(bin(runtime), args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(result.status, 0, `${runtime} failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^ok ${runtime} `, 'm'));
  });
}
