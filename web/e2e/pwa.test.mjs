// The app installs as a PWA: index.html links a valid manifest with real icons, the service
// worker registers and takes the page, and with the network gone a reload shows the offline
// page instead of the browser's error. The worker never keeps API or HLS responses.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, poll, screenshot, startServer, watchConsole } from './harness.mjs';

let server;
let browser;

before(async () => {
  // Playwright applies the context's offline switch to a service worker's own fetches only with
  // this on; without it the worker still reaches the server and "offline" proves nothing.
  process.env.PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS = '1';
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Width and height from a PNG's IHDR chunk. */
function pngSize(buf) {
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG signature');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

test('index.html links a valid manifest whose icons exist at their stated sizes', async () => {
  const html = await (await fetch(server.url)).text();
  assert.match(html, /<link rel="manifest" href="\/manifest.webmanifest"/);
  assert.match(html, /<meta name="theme-color" content="#[0-9a-f]{6}"/i);

  const res = await fetch(`${server.url}/manifest.webmanifest`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/manifest+json');
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const m = await res.json();
  assert.equal(m.name, 'streamhall');
  assert.ok(m.short_name && m.short_name.length <= 12, `short_name ${m.short_name}`);
  assert.equal(m.start_url, '/');
  assert.equal(m.display, 'standalone');
  assert.match(m.theme_color, /^#[0-9a-f]{6}$/i);
  assert.match(m.background_color, /^#[0-9a-f]{6}$/i);
  const purposes = new Set();
  for (const icon of m.icons) {
    const r = await fetch(new URL(icon.src, server.url));
    assert.equal(r.status, 200, icon.src);
    assert.equal(r.headers.get('content-type'), icon.type, icon.src);
    const { width, height } = pngSize(Buffer.from(await r.arrayBuffer()));
    assert.equal(`${width}x${height}`, icon.sizes, icon.src);
    purposes.add(`${icon.sizes} ${icon.purpose}`);
  }
  for (const need of ['192x192 any', '512x512 any', '512x512 maskable']) assert.ok(purposes.has(need), `an icon ${need}`);

  const sw = await fetch(`${server.url}/sw.js`);
  assert.equal(sw.status, 200);
  assert.equal(sw.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(sw.headers.get('cache-control'), 'no-cache', 'a stale worker would outlive a release');
});

test('the service worker registers, and offline a reload shows the offline page', async () => {
  const errors = [];
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  watchConsole(page, errors);
  await page.goto(server.url);
  await page.getByRole('heading', { level: 1 }).first().waitFor();

  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  assert.equal(scope, `${server.url}/`);
  await poll('the worker to control the page', () => page.evaluate(() => Boolean(navigator.serviceWorker.controller)), 10_000);
  // The app's own calls went to the network, and nothing from /api or /hls is kept.
  await poll('the offline page in the cache', () => page.evaluate(async () => Boolean(await caches.match('/offline.html'))), 10_000);

  await context.setOffline(true);
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'You are offline' }).waitFor({ timeout: 10_000 });
  const icon = await page.evaluate(() => document.querySelector('img')?.naturalWidth ?? 0);
  assert.ok(icon > 0, 'the offline page shows its icon from the cache');
  // An API call while offline fails rather than answering from a cache.
  const api = await page.evaluate(() =>
    fetch('/api/v1/channels').then(
      (r) => `status ${r.status}`,
      () => 'network error',
    ),
  );
  assert.equal(api, 'network error');
  await screenshot(page, 'pwa-offline');
  const cached = await page.evaluate(async () => {
    const urls = [];
    for (const name of await caches.keys()) for (const req of await (await caches.open(name)).keys()) urls.push(new URL(req.url).pathname);
    return urls;
  });
  assert.ok(cached.includes('/offline.html'), cached.join(', '));
  assert.deepEqual(cached.filter((u) => u.startsWith('/api/') || u.startsWith('/hls/')), [], 'no API or media response is cached');

  // Back online, "Try again" brings the app back.
  await context.setOffline(false);
  await page.getByRole('link', { name: 'Try again' }).click();
  await page.getByRole('search').waitFor({ timeout: 10_000 });
  await context.close();
  assert.deepEqual(errors, []);
});
