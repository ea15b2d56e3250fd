// Scenario 4: a viewer follows a channel; when it goes live the viewer's bell counts it without
// a reload, the panel says so, and its entry leads to the playing stream.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, launchBrowser, poll, publish, screenshot, startServer, watchConsole, register as registerAt } from './harness.mjs';

let server;
let browser;
let encoder;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await encoder?.stop();
  await browser?.close();
  await server?.stop();
});

const register = (username) => registerAt(server.url, username);

const bellLabel = (page) => page.getByTestId('bell').getAttribute('aria-label');

test('a follower is notified live when the channel goes live, and the notification opens the stream', async () => {
  const errors = [];
  // A: a streamer with a channel named after them.
  const alice = await register('alice');
  const created = await apiCall(server.url, '/channels', {
    method: 'POST',
    token: alice.access_token,
    body: { slug: 'alice', title: 'Speedrun night', category: 'Games' },
  });
  await register('bob');

  // B logs in and follows A from the watch page.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watchConsole(page, errors);
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Username or email').fill('bob');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(server.url + '/');
  await page.goto(`${server.url}/c/alice`);
  await page.getByText('alice is offline').waitFor();
  await page.getByRole('button', { name: /^Follow / }).click();
  await page.getByRole('button', { name: /^Unfollow / }).waitFor();
  await poll('one follower', async () => /^1 follower$/.test(await page.getByTestId('follower-count').innerText()));
  assert.equal(await bellLabel(page), 'Notifications, 0 unread');
  await screenshot(page, 'notify-1-followed');

  // Leave through the app (no reload from here on), and mark the document to prove it.
  await page.getByRole('link', { name: 'streamhall home' }).click();
  await page.waitForURL(server.url + '/');
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  const section = page.getByRole('region', { name: /Followed channels/ });
  await section.waitFor();
  assert.match(await section.innerText(), /alice/);

  // A goes live.
  encoder = publish(server.rtmp, created.stream_key, { seconds: 150 });
  await poll('the bell to count the go-live', async () => (await bellLabel(page)) === 'Notifications, 1 unread', 60_000, 250);
  // The toast says so too (it shows for 4 s).
  assert.ok((await page.locator('.toast', { hasText: 'alice went live' }).count()) > 0, 'a toast for the go-live');
  await screenshot(page, 'notify-2-bell-counted');
  // The home page's live grid follows at once too (the go-live refreshes it).
  await page.getByRole('link', { name: /Speedrun night by alice, live/ }).waitFor({ timeout: 5000 });

  await page.getByTestId('bell').click();
  const panel = page.getByRole('dialog', { name: 'Notifications' });
  const entry = panel.getByRole('link', { name: /alice went live/ });
  await entry.waitFor();
  assert.match(await entry.innerText(), /Speedrun night/);
  await screenshot(page, 'notify-3-panel');
  await entry.click();
  await page.waitForURL(`**/c/alice`);

  // The stream plays, the notification is read, and the document never reloaded.
  const start = await poll('the video to start', async () => {
    const t = await page.evaluate(() => document.querySelector('video')?.currentTime ?? 0);
    return t > 0 ? t : null;
  }, 45_000);
  await poll('the video to advance', async () => (await page.evaluate(() => document.querySelector('video')?.currentTime ?? 0)) > start + 1, 30_000);
  await poll('the bell back to 0', async () => (await bellLabel(page)) === 'Notifications, 0 unread');
  assert.equal(await page.evaluate(() => window.__sameDocument), true);
  await screenshot(page, 'notify-4-playing');

  // The server agrees: read, and counted once.
  const bob = await apiCall(server.url, '/auth/login', { method: 'POST', body: { login: 'bob', password: 'correct horse battery' } });
  const notifications = await apiCall(server.url, '/notifications?limit=10', { token: bob.access_token });
  assert.equal(notifications.unread, 0);
  assert.equal(notifications.items.length, 1);
  assert.equal(notifications.items[0].channel_slug, 'alice');

  // At 360 px the bell and its panel still fit.
  await page.setViewportSize({ width: 360, height: 740 });
  await page.getByTestId('bell').click();
  await panel.waitFor();
  const box = await panel.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 360, `panel within the screen: ${JSON.stringify(box)}`);
  await screenshot(page, 'notify-5-phone-panel');
  await context.close();
  assert.deepEqual(errors, []);
});
