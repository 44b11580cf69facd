// Builds the .wasm and its JS glue into wasm/pkg: the wasm32 target and a wasm-bindgen-cli of
// exactly the version wasm/Cargo.toml pins are installed first if missing.
//
// Usage: node scripts/build.mjs   (from wasm/, or through `npm run build`)

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const wasmDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(wasmDir, '..');
const pinned = /^wasm-bindgen = "=([0-9.]+)"$/m.exec(readFileSync(join(wasmDir, 'Cargo.toml'), 'utf8'))?.[1];
if (!pinned) throw new Error('wasm/Cargo.toml must pin wasm-bindgen exactly (wasm-bindgen = "=X.Y.Z")');

function run(command, args, options = {}) {
  console.log(`$ ${command} ${args.join(' ')}`);
  execFileSync(command, args, { stdio: 'inherit', cwd: root, ...options });
}

/** The wasm-bindgen on PATH or in ~/.cargo/bin, if it is the pinned version. */
function findBindgen() {
  for (const candidate of ['wasm-bindgen', join(homedir(), '.cargo', 'bin', 'wasm-bindgen')]) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0 && probe.stdout.trim() === `wasm-bindgen ${pinned}`) return candidate;
  }
  return undefined;
}

const targets = execFileSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' });
if (!targets.split('\n').includes('wasm32-unknown-unknown')) {
  console.log('The Rust target wasm32-unknown-unknown is not installed; adding it to this toolchain with rustup.');
  run('rustup', ['target', 'add', 'wasm32-unknown-unknown']);
}

let bindgen = findBindgen();
if (!bindgen) {
  console.log(
    `wasm-bindgen ${pinned} (the version wasm/Cargo.toml pins) is not on PATH or in ~/.cargo/bin; ` +
      'installing wasm-bindgen-cli with cargo into ~/.cargo/bin, which takes a few minutes, once.',
  );
  run('cargo', ['install', 'wasm-bindgen-cli', '--version', pinned]);
  bindgen = findBindgen();
  if (!bindgen) throw new Error(`wasm-bindgen ${pinned} is not on PATH after installing it`);
}

run('cargo', ['build', '--locked', '-p', 'mcpwire-wasm', '--target', 'wasm32-unknown-unknown', '--profile', 'wasm-release']);
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
const built = join(targetDir, 'wasm32-unknown-unknown', 'wasm-release', 'mcpwire_wasm.wasm');
if (!existsSync(built)) throw new Error(`${built} was not built`);
run(bindgen, ['--target', 'web', '--remove-name-section', '--remove-producers-section', '--out-dir', join(wasmDir, 'pkg'), built]);
