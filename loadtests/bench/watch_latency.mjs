// Latency on the watch page, in Chromium with hls.js, low latency (LL-HLS) against normal
// (MPEG-TS, the DVR master), for the top and the lowest rendition of the default ladder.
//
//   cd web && node ../loadtests/bench/watch_latency.mjs [SECONDS_PER_PHASE] [PART_MS]
//
// One release server (E2E_SERVER_BIN, else target/release/streamhall) on its embedded
// defaults, ffmpeg pushing a 1280x720 30 fps test picture (1 s GOP) over RTMP in real time.
// The figure is what the player shows: the browser's clock minus the PROGRAM-DATE-TIME of the
// frame playing, which the server stamps from the time it received that frame. It leaves out
// the encoder's own delay (ffmpeg -preset ultrafast -tune zerolatency here: a frame or two).
// Sampled every 250 ms for SECONDS_PER_PHASE (default 60) after 10 s to settle; p50 and p95.
// PART_MS sets live.ladder.part_ms (default 333).
import { apiCall, launchBrowser, poll, publish, register, startServer } from '../../web/e2e/harness.mjs';

const seconds = Number(process.argv[2] ?? 60);
const partMs = process.argv[3];
const server = await startServer({ env: partMs ? { STREAMHALL_LIVE__LADDER__PART_MS: partMs } : {} });
const browser = await launchBrowser();
let encoder;
try {
  const owner = await register(server.url, 'latency');
  const created = await apiCall(server.url, '/channels', {
    method: 'POST',
    token: owner.access_token,
    body: { slug: 'latency', title: 'latency' },
  });
  encoder = publish(server.rtmp, created.stream_key, { width: 1280, height: 720, seconds: 60 + 4 * (seconds + 25) });
  await poll('the channel live', async () => (await apiCall(server.url, '/channels/latency')).live?.low_latency_url, 60_000, 500);

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(`${server.url}/c/latency`);
  const quantile = (xs, q) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
  const rows = [];
  for (const mode of ['Low latency', 'Normal latency']) {
    for (const rendition of ['source', '360p']) {
      await page.locator('.player').hover();
      const toggle = page.locator('.latency-toggle');
      if ((await toggle.innerText()) !== mode) await toggle.click();
      await page.locator('.player').hover();
      await page.getByRole('button', { name: /^Quality:/ }).click();
      await page.getByRole('menuitemradio', { name: new RegExp(`^${rendition}`) }).click();
      await page.waitForTimeout(10_000);
      const samples = [];
      const until = Date.now() + seconds * 1000;
      while (Date.now() < until) {
        const l = Number(await page.locator('.live-edge').getAttribute('data-latency'));
        if (l > 0) samples.push(l);
        await page.waitForTimeout(250);
      }
      const size = await page.evaluate(() => `${document.querySelector('video').videoWidth}x${document.querySelector('video').videoHeight}`);
      const row = { mode, rendition, size, n: samples.length, p50: quantile(samples, 0.5), p95: quantile(samples, 0.95) };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  console.log('| player mode | rendition (size) | p50 | p95 | samples |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.mode} | ${r.rendition} (${r.size}) | ${r.p50?.toFixed(2)} s | ${r.p95?.toFixed(2)} s | ${r.n} |`);
} finally {
  await encoder?.stop();
  await browser.close();
  await server.stop();
}
