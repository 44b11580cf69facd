// The browser example in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; nothing is downloaded): the Service Worker serves MCP from the engine in
// WebAssembly, and the page's tool call completes with its progress shown.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { serveStatic } from '../examples/browser/serve.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

let site;
let browser;
before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (or set CHROMIUM)`);
  site = await serveStatic(0);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser?.close();
  await site?.close();
});

test('the page calls a tool on its Service Worker and shows the streamed progress', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`${site.origin}/examples/browser/`);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('connected'), null, { timeout: 20000 });
  assert.match(await page.textContent('#status'), /connected to mcpwire-wasm-demo/);
  await page.fill('#millis', '500');
  await page.click('#call');
  await page.waitForFunction(() => document.getElementById('result').textContent !== '', null, { timeout: 20000 });
  assert.equal(await page.textContent('#result'), 'slept 500 ms');
  const log = await page.$$eval('#log li', (items) => items.map((i) => i.textContent));
  assert.deepEqual(log, ['1/5 step 1 of 5', '2/5 step 2 of 5', '3/5 step 3 of 5', '4/5 step 4 of 5', '5/5 step 5 of 5']);
  assert.equal(await page.$eval('#progress', (p) => p.value), 5);
  // The answer came from the worker, not the static server (which knows no /mcp).
  const served = await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL);
  assert.match(served, /\/examples\/browser\/sw\.js$/);
  assert.deepEqual(errors, []);
  await page.close();
});
