// A password-protected channel in the web app: the streamer picks "Password" on the dashboard;
// a viewer in another browser context sees the password prompt, a wrong password is refused,
// the right one plays, and playback carries on across playback-token renewals (the server is
// started with 8-second tokens, so the player renews several times while this test watches).
// The password never appears in the server's log.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, launchBrowser, poll, publish, register, screenshot, signedInContext, startServer, watchConsole } from './harness.mjs';

const slug = 'backstage';
const PASSWORD = 'velvet-rope-77';
const TOKEN_TTL = 8;

let server;
let browser;
let encoder;

before(async () => {
  server = await startServer({ env: { STREAMHALL_AUTH__PLAYBACK__TOKEN_TTL_SECS: String(TOKEN_TTL), STREAMHALL_LOG__LEVEL: 'info' } });
  browser = await launchBrowser();
});

after(async () => {
  await encoder?.stop();
  await browser?.close();
  await server?.stop();
});

const video = (page) =>
  page.evaluate(() => {
    const v = document.querySelector('video');
    return v ? { t: v.currentTime, paused: v.paused } : null;
  });

test('a password-protected channel: prompt, wrong password refused, right one plays across token renewals', async () => {
  const errors = [];
  const streamer = await register(server.url, 'backstager');
  const created = await apiCall(server.url, '/channels', {
    method: 'POST',
    token: streamer.access_token,
    body: { slug, title: 'Members only', category: 'Testing' },
  });

  // The streamer makes the channel password-protected on the dashboard.
  const owner = await signedInContext(browser, streamer);
  const dash = await owner.newPage();
  watchConsole(dash, errors);
  await dash.goto(`${server.url}/dashboard`);
  await dash.getByRole('tab', { name: 'Channel' }).click();
  const form = dash.getByRole('form', { name: 'Who can watch' });
  await form.getByLabel('Visibility').selectOption('password');
  await form.getByRole('button', { name: 'Save visibility' }).click();
  assert.match(await form.getByRole('alert').innerText(), /Choose a password/);
  await form.getByLabel('Viewing password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Save visibility' }).click();
  await poll('the channel password-protected', async () => (await apiCall(server.url, `/channels/${slug}`)).visibility === 'password');
  await screenshot(dash, 'private-dashboard');

  encoder = publish(server.rtmp, created.stream_key, { seconds: 240 });
  await poll('the channel live', async () => (await apiCall(server.url, `/channels/${slug}`)).is_live, 60_000, 500);
  // Not listed; its HLS refuses a request without a token.
  const listed = await apiCall(server.url, '/channels?live=true');
  assert.deepEqual(listed.items.map((c) => c.slug), []);
  const bare = await fetch(`${server.url}/hls/${slug}/master.m3u8`);
  assert.equal(bare.status, 403);
  assert.equal((await bare.json()).error, 'playback_token_required');

  // A visitor in another browser context.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watchConsole(page, errors);
  const media = [];
  page.on('request', (r) => {
    if (/\/hls\//.test(r.url())) media.push({ url: r.url(), at: Date.now() });
  });
  await page.goto(`${server.url}/c/${slug}`);
  const prompt = page.getByRole('form', { name: 'Channel password' });
  await prompt.waitFor();
  assert.equal(await page.locator('video').count(), 0, 'no player before the password');
  assert.equal(media.length, 0, 'no HLS requests before the password');
  await screenshot(page, 'private-prompt');

  await prompt.getByLabel('Password').fill('not-the-password');
  await prompt.getByRole('button', { name: 'Watch' }).click();
  assert.match(await prompt.getByRole('alert').innerText(), /not right/);
  assert.equal(await page.locator('video').count(), 0, 'a wrong password plays nothing');

  await prompt.getByLabel('Password').fill(PASSWORD);
  await prompt.getByRole('button', { name: 'Watch' }).click();
  const start = await poll('the video to play', async () => {
    const v = await video(page);
    return v && v.t > 0 && !v.paused ? v : null;
  }, 60_000, 100);
  await screenshot(page, 'private-playing');

  // Keep watching across more than two token lifetimes: the time keeps advancing and later
  // requests carry renewed tokens.
  const watchFor = (TOKEN_TTL * 2 + 4) * 1000;
  const begin = Date.now();
  let last = start.t;
  while (Date.now() - begin < watchFor) {
    await new Promise((r) => setTimeout(r, 2000));
    const v = await video(page);
    assert.ok(v && v.t > last, `playback stalled at ${v?.t} (was ${last}) ${Math.round((Date.now() - begin) / 1000)} s in`);
    last = v.t;
  }
  assert.ok(last >= start.t + TOKEN_TTL * 2, `played ${last - start.t} s`);
  const tokens = new Set(media.map((m) => new URL(m.url).searchParams.get('token')));
  assert.ok(!tokens.has(null), 'every HLS request carries a token');
  assert.ok(tokens.size >= 3, `renewed tokens used while playing (${tokens.size} distinct)`);

  // The password is in no log line.
  assert.ok(server.logs.length > 0, 'the server logged something');
  assert.deepEqual(server.logs.filter((l) => l.includes(PASSWORD)), [], 'the password in the log');
  assert.deepEqual(errors, []);
  await context.close();
  await owner.close();
});
