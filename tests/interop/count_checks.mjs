// Counts the checks a conformance run wrote (one checks.json per scenario under the given
// directory, `auth/...` scenarios one level down): prints any check that is not SUCCESS or INFO, then
// `checks: P passed, F failed, W warnings, I info`. With --passed, prints instead each passed
// check as `scenario check-id`, sorted, so that two runs can be compared check by check.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/// Every scenario directory under `dir` (a scenario named `auth/x` is written to `auth/x-<time>`),
/// as its path relative to `dir`.
function scenarioDirs(dir, prefix = '') {
  const found = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (existsSync(join(dir, path, 'checks.json'))) found.push(path);
    else found.push(...scenarioDirs(dir, path));
  }
  return found;
}

const listPassed = process.argv.includes('--passed');
const dir = process.argv.slice(2).find((arg) => arg !== '--passed');
const passed = [];
const counts = { SUCCESS: 0, FAILURE: 0, WARNING: 0, INFO: 0, SKIPPED: 0 };
let scenarios = 0;
for (const scenario of scenarioDirs(dir)) {
  const checks = JSON.parse(readFileSync(join(dir, scenario, 'checks.json'), 'utf8'));
  scenarios += 1;
  for (const check of checks) {
    counts[check.status] = (counts[check.status] ?? 0) + 1;
    // The suite names each scenario's directory `<scenario>-<ISO time with : and . as ->`.
    if (check.status === 'SUCCESS') passed.push(`${scenario.replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '')} ${check.id}`);
    if (check.status !== 'SUCCESS' && check.status !== 'INFO' && !listPassed) {
      console.log(`${check.status} ${scenario} ${check.id}: ${check.errorMessage ?? JSON.stringify(check.details)}`);
    }
  }
}
if (listPassed) {
  for (const line of passed.sort()) console.log(line);
  process.exit(0);
}
console.log(`scenarios: ${scenarios}`);
console.log(
  `checks: ${counts.SUCCESS} passed, ${counts.FAILURE} failed, ${counts.WARNING} warnings, ${counts.INFO} info, ${counts.SKIPPED} skipped`,
);
