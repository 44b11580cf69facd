// Every wasm test, after `scripts/build.mjs`: the declarations type-check (and say `any`
// nowhere), wasm-bindgen-test runs the bindings in Node, and node:test runs the JS module,
// the TypeScript SDK client against examples/node-server.mjs, and the browser example in
// headless Chromium. Ends with `wasm tests: N passed, M failed`.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const wasmDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(wasmDir, '..');
let passed = 0;
let failed = 0;

function step(title) {
  console.log(`\n--> ${title}`);
}

function run(command, args, options = {}) {
  console.log(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: wasmDir, ...options });
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  return result;
}

step('type declarations');
const declarations = ['js/index.d.ts', 'js/node.d.ts', 'pkg/mcpwire_wasm.d.ts'];
for (const file of declarations) {
  const code = readFileSync(join(wasmDir, file), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line));
  const offending = code.filter((line) => /\bany\b/.test(line));
  if (offending.length === 0) {
    passed += 1;
    console.log(`ok - ${file} says \`any\` nowhere`);
  } else {
    failed += 1;
    console.log(`not ok - ${file} says \`any\`:\n${offending.join('\n')}`);
  }
}
const tsc = run(process.execPath, [
  join(wasmDir, 'node_modules', 'typescript', 'bin', 'tsc'),
  '--strict', '--noEmit', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
  '--lib', 'es2022,dom', '--types', 'node', '--allowJs', 'false', 'test/types.ts',
]);
if (tsc.status === 0) {
  passed += 1;
  console.log('ok - test/types.ts compiles under --strict, and its misuses do not');
} else {
  failed += 1;
  console.log('not ok - test/types.ts does not type-check');
}

step('wasm-bindgen-test: the bindings compiled to wasm32, in Node');
const runner = spawnSync('wasm-bindgen-test-runner', ['--version']).status === 0
  ? 'wasm-bindgen-test-runner'
  : join(homedir(), '.cargo', 'bin', 'wasm-bindgen-test-runner');
const cargo = run('cargo', ['test', '--locked', '-p', 'mcpwire-wasm', '--target', 'wasm32-unknown-unknown', '--tests'], {
  cwd: root,
  env: { ...process.env, CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: runner },
});
for (const match of `${cargo.stdout}${cargo.stderr}`.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
  passed += Number(match[1]);
  failed += Number(match[2]);
}
if (cargo.status !== 0 && !/test result: \w+\. \d+ passed; [1-9]/.test(`${cargo.stdout}${cargo.stderr}`)) failed += 1;

step('node:test: the JS module, the TypeScript SDK client, the browser example, Deno and Bun');
const runtimes = run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: join(wasmDir, 'test', 'runtimes') });
if (runtimes.status !== 0) failed += 1;
let files = readdirSync(join(wasmDir, 'test')).filter((f) => f.endsWith('.test.mjs')).map((f) => join('test', f));
// The browser test drives a Chromium that is installed, never downloaded: without one, say so
// and count the test failed rather than let it end in a stack trace.
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  files = files.filter((file) => !file.endsWith('browser.test.mjs'));
  failed += 1;
  console.log(`not ok - the browser example's test needs Chromium, and ${chromium} does not exist.`);
  console.log('         Install it (Debian: apt-get install chromium; .ci/run does this), or point CHROMIUM at one.');
}
// Bounded, so that a test that hangs fails the run instead of stalling it.
const node = run(process.execPath, ['--test', '--test-concurrency=1', ...files], { timeout: 15 * 60_000 });
const pass = /^# pass (\d+)$/m.exec(node.stdout);
const fail = /^# fail (\d+)$/m.exec(node.stdout);
passed += Number(pass?.[1] ?? 0);
failed += Number(fail?.[1] ?? 0);
if (node.status !== 0 && Number(fail?.[1] ?? 0) === 0) failed += 1;

console.log(`\nwasm tests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
