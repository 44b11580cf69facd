// The module under Deno and Bun (pinned in package.json, from the npm registry), each serving
// with its own server: `Deno.serve(mcp.fetch)` and `Bun.serve({ fetch: mcp.fetch })`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const bin = (name) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));
const script = fileURLToPath(new URL('./runtimes/serve.mjs', import.meta.url));

for (const [runtime, args] of [
  ['deno', ['run', '--allow-read', '--allow-net', script]],
  ['bun', [script]],
]) {
  test(`${runtime} serves MCP with the module: streaming call, GET stream, DELETE then 404, close`, () => {
    const result = spawnSync(bin(runtime), args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(result.status, 0, `${runtime} failed:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^ok ${runtime} `, 'm'));
  });
}
