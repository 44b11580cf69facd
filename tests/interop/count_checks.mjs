// Counts the checks a conformance run wrote (one checks.json per scenario under the given
// directory): prints any check that is not SUCCESS or INFO, then
// `checks: P passed, F failed, W warnings, I info`.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const counts = { SUCCESS: 0, FAILURE: 0, WARNING: 0, INFO: 0, SKIPPED: 0 };
let scenarios = 0;
for (const scenario of readdirSync(dir)) {
  const checks = JSON.parse(readFileSync(join(dir, scenario, 'checks.json'), 'utf8'));
  scenarios += 1;
  for (const check of checks) {
    counts[check.status] = (counts[check.status] ?? 0) + 1;
    if (check.status !== 'SUCCESS' && check.status !== 'INFO') {
      console.log(`${check.status} ${scenario} ${check.id}: ${check.errorMessage ?? JSON.stringify(check.details)}`);
    }
  }
}
console.log(`scenarios: ${scenarios}`);
console.log(
  `checks: ${counts.SUCCESS} passed, ${counts.FAILURE} failed, ${counts.WARNING} warnings, ${counts.INFO} info, ${counts.SKIPPED} skipped`,
);
