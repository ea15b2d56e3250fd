// Scenario 4 of the web-app issue: on a phone the watch page of a live channel puts the player
// above the chat and nothing scrolls sideways; home and the dashboard fit a 360 px wide screen.
// Also screenshots of the pages no other scenario opens (settings, the legal pages, 404).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, launchBrowser, poll, publish, screenshot, signedInContext, startServer, watchConsole } from './harness.mjs';

const slug = 'pocket';
const PHONE = { width: 390, height: 844 };
const NARROW = { width: 360, height: 780 };

let server;
let browser;
let encoder;
let streamer;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  streamer = await apiCall(server.url, '/auth/register', {
    method: 'POST',
    body: { username: 'pocketcaster', email: 'pocketcaster@example.com', password: 'correct horse battery' },
  });
  const created = await apiCall(server.url, '/channels', {
    method: 'POST',
    token: streamer.access_token,
    body: { slug, title: 'Small screens', category: 'Testing' },
  });
  encoder = publish(server.rtmp, created.stream_key, { seconds: 150 });
  await poll('the channel live', async () => (await apiCall(server.url, `/channels/${slug}`)).is_live, 40_000, 500);
});

after(async () => {
  await encoder?.stop();
  await browser?.close();
  await server?.stop();
});

/** How far the page is wider than the viewport, and the elements that stick out. */
function overflow(page) {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const culprits = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > width + 0.5)
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''}`);
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: width, culprits };
  });
}

async function assertNoSidewaysScroll(page, what) {
  const o = await overflow(page);
  assert.ok(o.scrollWidth <= o.innerWidth, `${what} is ${o.scrollWidth} px wide in a ${o.innerWidth} px viewport; sticking out: ${o.culprits.join(', ')}`);
}

test('on a phone the watch page shows the player above the chat, with no sideways scroll', async () => {
  const errors = [];
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  watchConsole(page, errors);
  await page.goto(`${server.url}/c/${slug}`);
  await poll('the stream playing', () => page.evaluate(() => (document.querySelector('video')?.currentTime ?? 0) > 0), 40_000);

  const player = await page.locator('.player').boundingBox();
  const chat = await page.getByRole('complementary', { name: 'Chat' }).boundingBox();
  assert.ok(player && chat, 'both the player and the chat are on the page');
  assert.ok(chat.y >= player.y + player.height - 0.5, `chat top ${chat.y} is above the player's bottom ${player.y + player.height}`);
  assert.ok(player.width <= PHONE.width + 0.5, `player ${player.width} px wide`);
  await assertNoSidewaysScroll(page, 'the watch page');
  await screenshot(page, 'phone-watch');
  await page.getByRole('complementary', { name: 'Chat' }).scrollIntoViewIfNeeded();
  await screenshot(page, 'phone-watch-chat');
  await context.close();
  assert.deepEqual(errors, []);
});

test('home and the creator dashboard fit a 360 px wide screen', async () => {
  const errors = [];
  const context = await signedInContext(browser, streamer);
  const page = await context.newPage();
  await page.setViewportSize(NARROW);
  watchConsole(page, errors);

  await page.goto(server.url);
  const card = page.getByRole('link', { name: /Small screens by pocketcaster, live/ });
  await poll('the live card on the home page', async () => {
    if ((await card.count()) > 0) return true;
    await page.reload();
    return false;
  }, 40_000, 1000);
  await assertNoSidewaysScroll(page, 'the home page');
  await screenshot(page, 'phone-home');

  await page.goto(`${server.url}/dashboard`);
  await poll('ingest stats on the dashboard', async () => (await page.getByTestId('ingest-stats').count()) > 0, 40_000);
  await assertNoSidewaysScroll(page, 'the dashboard');
  await screenshot(page, 'phone-dashboard');
  await context.close();
  assert.deepEqual(errors, []);
});

test('settings, the legal pages and the 404 page render', async () => {
  const errors = [];
  const context = await signedInContext(browser, streamer);
  const page = await context.newPage();
  watchConsole(page, errors);
  const pages = [
    ['/settings', 'Settings', 'settings'],
    ['/terms', 'Terms of service', 'terms'],
    ['/privacy', 'Privacy', 'privacy'],
    ['/guidelines', 'Content guidelines', 'guidelines'],
    ['/no/such/page', 'This page does not exist', 'not-found'],
  ];
  for (const [path, heading, name] of pages) {
    await page.goto(server.url + path);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
    await screenshot(page, name);
  }
  await context.close();
  assert.deepEqual(errors, []);
});
