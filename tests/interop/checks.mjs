// One line per check, a total at the end, and exit status 1 on any failure.

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

/** Resolves with the first value `poll` returns that is not undefined, or rejects after `ms`. */
export async function eventually(what, poll, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = poll();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs `body`, prints the totals under `name`, and exits. */
export async function run(name, body) {
  try {
    await body();
  } catch (error) {
    check(false, 'the script ran to the end', String(error?.stack ?? error));
  }
  console.log(`${name}: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
