// The viewer's player on the happy path and around it: offline, then the stream plays; the
// latency shows only once a frame played; segment requests carry the viewer id; paused for more
// than 3 target durations it says "behind live" and the jump brings it back; a network failure
// is a message with Retry that recovers on its own; the end of the broadcast says so. On a
// 390x844 phone the player stays at the top while chatting, the chat input stays on screen (also
// with the screen shortened as by a keyboard), and logged-out visitors get Log in and Sign up.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, launchBrowser, poll, publish, screenshot, signedInContext, startServer, watchConsole } from './harness.mjs';

const slug = 'edgecast';
const PHONE = { width: 390, height: 844 };

let server;
let browser;
let encoder;
let streamer;
let created;

before(async () => {
  // A short grace period: the last scenario ends the broadcast by stopping the encoder.
  server = await startServer({ env: { STREAMHALL_LIVE__GRACE_SECS: '3' } });
  browser = await launchBrowser();
  streamer = await apiCall(server.url, '/auth/register', {
    method: 'POST',
    body: { username: 'edgecaster', email: 'edgecaster@example.com', password: 'correct horse battery' },
  });
  created = await apiCall(server.url, '/channels', {
    method: 'POST',
    token: streamer.access_token,
    body: { slug, title: 'Catch the edge', category: 'Testing' },
  });
});

after(async () => {
  await encoder?.stop();
  await browser?.close();
  await server?.stop();
});

/** Records, from the first script on, whether a latency was shown before any frame played. */
async function latencyWatch(context) {
  await context.addInitScript(() => {
    window.__played = false;
    window.__latencyBeforePlay = [];
    document.addEventListener('playing', () => (window.__played = true), true);
    setInterval(() => {
      const b = document.querySelector('.live-edge');
      if (!window.__played && b && (b.getAttribute('data-latency') || /\d\s*s/.test(b.textContent ?? ''))) {
        window.__latencyBeforePlay.push(b.textContent);
      }
    }, 25);
  });
}

/** Starts the encoder unless running, and waits until viewers can watch. */
async function ensureLive() {
  encoder ??= publish(server.rtmp, created.stream_key, { seconds: 240 });
  await poll('the channel live', async () => (await apiCall(server.url, `/channels/${slug}`)).is_live, 60_000, 500);
}

const phase = (page) => page.locator('.player').getAttribute('data-phase');
const video = (page) =>
  page.evaluate(() => {
    const v = document.querySelector('video');
    return v ? { t: v.currentTime, paused: v.paused } : null;
  });

test('offline, then it plays; latency only once playing; behind live when paused, and back', async () => {
  const errors = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await latencyWatch(context);
  const page = await context.newPage();
  watchConsole(page, errors);
  const segments = [];
  page.on('request', (r) => {
    if (/\/hls\/.*\.(ts|m4s)(\?|$)/.test(r.url())) segments.push(r.url());
  });
  await page.goto(`${server.url}/c/${slug}`);
  await page.getByText('edgecaster is offline').waitFor();
  assert.match(await page.getByTestId('next-live-hint').innerText(), /Follow edgecaster to be notified/);
  await screenshot(page, 'player-offline');

  encoder = publish(server.rtmp, created.stream_key, { seconds: 240 });
  const phases = new Set();
  const start = await poll('the video to play', async () => {
    phases.add(await phase(page).catch(() => null));
    const v = await video(page);
    return v && v.t > 0 && !v.paused ? v : null;
  }, 60_000, 100);
  await poll('the video to advance', async () => ((await video(page))?.t ?? 0) > start.t + 1, 20_000);
  console.log('phases seen before playing:', [...phases].join(' -> '));

  // Latency: a measured number once playing, and never before.
  const latency = await poll('a measured latency', async () => {
    const l = Number(await page.locator('.live-edge').getAttribute('data-latency'));
    return l > 0 ? l : null;
  }, 15_000);
  // Low-latency HLS by default: 1.2-1.6 s by this figure on a quiet machine; normal latency
  // (MPEG-TS, 2 segments of buffer) is 2.9-3.4 s (docs/PERFORMANCE.md).
  assert.ok(latency < 3, `latency ${latency} s`);
  console.log(`low-latency playback: ${latency.toFixed(2)} s behind the encoder`);
  assert.deepEqual(await page.evaluate(() => window.__latencyBeforePlay), [], 'no latency shown before a frame played');
  await screenshot(page, 'player-playing');

  // Every segment request carries the viewer id (the server counts viewers on segments).
  assert.ok(segments.length > 0, 'segments were fetched');
  const without = segments.filter((u) => !/[?&]vid=[0-9a-f]{24}(&|$)/.test(u));
  assert.deepEqual(without, [], 'segment requests without a vid');

  // Paused: behind live after a bit more than 3 target durations (1 s segments), not before.
  assert.equal(await page.getByTestId('behind-live').count(), 0, 'not behind live while playing at the edge');
  await page.locator('.player').hover();
  await page.getByRole('button', { name: 'Pause' }).click();
  const pausedAt = Date.now();
  // The edge moves as fast as the server produces segments: slower than real time on a busy machine.
  await page.getByTestId('behind-live').waitFor({ timeout: 45_000 });
  const after = (Date.now() - pausedAt) / 1000;
  console.log(`behind live shown ${after.toFixed(1)} s after pausing`);
  assert.ok(after >= 2.5, `behind live only after drifting 3 target durations (shown after ${after} s)`);
  // Paused, it stays where it was (hls.js does not move it) and falls further behind.
  const off = [];
  await poll('the drift to grow past 6 s', async () => {
    if ((await page.getByTestId('behind-live').count()) !== 1 || !(await video(page))?.paused) off.push(((Date.now() - pausedAt) / 1000).toFixed(1));
    return Number(await page.locator('.player').getAttribute('data-drift')) >= 6;
  }, 45_000, 250);
  assert.deepEqual(off, [], 'paused and behind live all along (seconds after pausing when not)');
  assert.match(await page.getByTestId('behind-live').innerText(), /\d+ s behind/);
  await screenshot(page, 'player-behind-live');

  // The jump: playing again, at the edge, the indicator gone and the latency back to normal.
  await page.getByTestId('behind-live').click();
  await poll('playing again', async () => (await video(page))?.paused === false, 10_000);
  await poll('the behind-live indicator gone', async () => (await page.getByTestId('behind-live').count()) === 0, 10_000);
  const back = await poll('latency back near the edge', async () => {
    const l = Number(await page.locator('.live-edge').getAttribute('data-latency'));
    return l > 0 && l < latency + 3 ? l : null;
  }, 15_000);
  console.log(`latency ${latency.toFixed(2)} s before pausing, ${back.toFixed(2)} s after the jump`);
  await page.mouse.move(5, 400);
  await screenshot(page, 'player-back-live');
  await context.close();
  assert.deepEqual(errors, []);
});

test('a network failure says so with Retry, and recovers by itself', async () => {
  const errors = [];
  await ensureLive();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watchConsole(page, errors);
  // The video server is unreachable for this visitor (the API is not).
  await page.route('**/hls/**', (route) => route.abort('connectionrefused'));
  await page.goto(`${server.url}/c/${slug}`);
  await page.locator('.player[data-phase="network"]').waitFor({ timeout: 40_000 });
  assert.match(await page.getByTestId('network-error').innerText(), /connection|load/i);
  await page.getByRole('button', { name: 'Retry now' }).waitFor();
  assert.equal(await page.locator('.player .spinner').count(), 0, 'no spinner in the error state');
  await screenshot(page, 'player-network-error');
  // The network comes back: the automatic retry plays without a click.
  await page.unroute('**/hls/**');
  await poll('playing after the automatic retry', async () => {
    const v = await video(page);
    return (await phase(page)) === 'playing' && v && v.t > 0;
  }, 60_000, 250);
  await context.close();
  // hls.js logs failed loads as console errors: only page errors count here.
  assert.deepEqual(errors.filter((e) => e.startsWith('pageerror')), []);
});

test('on a phone the player stays at the top while chatting and the input stays on screen', async () => {
  const errors = [];
  await ensureLive();
  const viewer = await apiCall(server.url, '/auth/register', {
    method: 'POST',
    body: { username: 'pocketviewer', email: 'pocketviewer@example.com', password: 'correct horse battery' },
  });
  const context = await signedInContext(browser, viewer);
  const page = await context.newPage();
  await page.setViewportSize(PHONE);
  watchConsole(page, errors);
  await page.goto(`${server.url}/c/${slug}`);
  await poll('the stream playing', async () => ((await video(page))?.t ?? 0) > 0, 40_000);
  const input = page.getByLabel('Send a message');
  await poll('the chat input enabled', () => input.isEnabled(), 20_000);

  const inView = async (what, locator, height) => {
    const b = await locator.boundingBox();
    assert.ok(b, `${what} is on the page`);
    assert.ok(b.y >= 0 && b.y + b.height <= height + 0.5, `${what} within the ${height} px screen: top ${b.y}, bottom ${b.y + b.height}`);
    return b;
  };
  const player0 = await inView('the player', page.locator('.player'), PHONE.height);
  assert.ok(Math.abs(player0.y - 54) < 1, `the player right below the top bar (y ${player0.y})`);
  // 15 messages (the limit is 20 per 30 s): more than the chat shows at once.
  const log = page.getByRole('log', { name: 'Chat messages' });
  for (let i = 1; i <= 15; i++) {
    await input.fill(`message ${i} from the phone`);
    await input.press('Enter');
  }
  await log.getByText('message 15 from the phone').waitFor();
  const player1 = await inView('the player after 15 messages', page.locator('.player'), PHONE.height);
  assert.equal(player1.y, player0.y, 'the player did not move');
  await inView('the chat input', input, PHONE.height);
  await inView('the newest message', log.getByText('message 15 from the phone'), PHONE.height);
  assert.ok(await log.evaluate((el) => el.scrollHeight > el.clientHeight), 'the messages overflow the log (it scrolls, not the page)');
  assert.equal(await page.evaluate(() => document.scrollingElement.scrollTop), 0, 'the page itself did not scroll');
  await screenshot(page, 'phone-watch-chatting');

  // A keyboard takes the bottom ~40% of the screen: the layout follows the visible height.
  await input.focus();
  const KEYBOARD = { width: 390, height: 500 };
  await page.setViewportSize(KEYBOARD);
  await poll('the layout to follow the shorter screen', async () => {
    const b = await input.boundingBox();
    return b && b.y + b.height <= KEYBOARD.height + 0.5;
  }, 5000);
  const player2 = await inView('the player with the keyboard open', page.locator('.player'), KEYBOARD.height);
  assert.ok(Math.abs(player2.y - 54) < 1, `the player still at the top (y ${player2.y})`);
  await inView('the chat input with the keyboard open', input, KEYBOARD.height);
  await screenshot(page, 'phone-watch-keyboard');
  await context.close();

  // Logged out: both Log in and Sign up where the chat invites, on screen.
  const anon = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
  const ap = await anon.newPage();
  watchConsole(ap, errors);
  await ap.goto(`${server.url}/c/${slug}`);
  const chat = ap.getByRole('complementary', { name: 'Chat' });
  await inView('Log in in the chat', chat.getByRole('link', { name: 'Log in' }), PHONE.height);
  await inView('Sign up in the chat', chat.getByRole('link', { name: 'Sign up' }), PHONE.height);
  await screenshot(ap, 'phone-watch-logged-out');
  await chat.getByRole('link', { name: 'Log in' }).click();
  await ap.waitForURL('**/login');
  await anon.close();
  assert.deepEqual(errors, []);
});

test('the broadcast ends while watching: the player says so and shows the channel offline', async () => {
  const errors = [];
  await ensureLive();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watchConsole(page, errors);
  await page.goto(`${server.url}/c/${slug}`);
  await poll('the stream playing', async () => ((await video(page))?.t ?? 0) > 0, 40_000);
  await encoder.stop();
  await page.locator('.offline[data-phase="ended"]').waitFor({ timeout: 40_000 });
  await page.getByText('The broadcast has ended.').waitFor();
  await page.getByText('edgecaster is offline').waitFor();
  assert.equal(await page.locator('video').count(), 0);
  await screenshot(page, 'player-ended');
  await context.close();
  assert.deepEqual(errors, []);
});
