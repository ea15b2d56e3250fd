// Scenario 4 of the web-app issue: on a phone the watch page of a live channel puts the player
// above the chat and nothing scrolls sideways; home and the dashboard fit a 360 px wide screen.
// Also screenshots of the pages no other scenario opens (settings, the legal pages, 404); a
// logged-out phone's top bar keeps both Log in and Sign up; the channel forms mark every error.
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

test('logged out on a phone, the top bar offers both Log in and Sign up, inside the screen', async () => {
  const errors = [];
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  watchConsole(page, errors);
  for (const viewport of [{ width: 1280, height: 800 }, PHONE, NARROW]) {
    await page.setViewportSize(viewport);
    await page.goto(server.url);
    const header = page.locator('header.topbar');
    const search = await header.getByRole('search').boundingBox();
    for (const name of ['Log in', 'Sign up']) {
      const link = header.getByRole('link', { name, exact: true });
      assert.ok(await link.isVisible(), `${name} is visible at ${viewport.width}x${viewport.height}`);
      const box = await link.boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= viewport.width + 0.5, `${name} spans ${box.x}..${box.x + box.width} in a ${viewport.width} px viewport`);
      assert.ok(box.x >= search.x + search.width, `${name} at ${box.x} overlaps the search box ending at ${search.x + search.width}`);
      assert.ok(box.height >= 36, `${name} is ${box.height} px tall, too small to tap`);
    }
    assert.ok(search.width >= 100, `the search box is ${search.width} px wide at ${viewport.width} px`);
    const bar = await header.evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    assert.ok(bar.scroll <= bar.client, `the top bar's content is ${bar.scroll} px wide in ${bar.client} px`);
    await assertNoSidewaysScroll(page, `the logged-out home page at ${viewport.width} px`);
    await screenshot(page, `header-logged-out-${viewport.width}`);
  }
  // Reachable, not just drawn: the phone's Log in opens the login page.
  await page.setViewportSize(PHONE);
  await page.locator('header.topbar').getByRole('link', { name: 'Log in', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
  await context.close();
  assert.deepEqual(errors, []);
});

test('the channel forms mark every invalid field at once, on a desktop and a phone', async () => {
  const newcomer = await apiCall(server.url, '/auth/register', {
    method: 'POST',
    body: { username: 'formfiller', email: 'formfiller@example.com', password: 'correct horse battery' },
  });
  const errors = [];
  const context = await signedInContext(browser, newcomer);
  const page = await context.newPage();
  watchConsole(page, errors);
  for (const viewport of [{ width: 1280, height: 800 }, PHONE]) {
    await page.setViewportSize(viewport);
    await page.goto(`${server.url}/dashboard`);
    const create = page.getByRole('form', { name: 'Create your first channel' });
    await create.getByLabel('Address').fill('Not A Slug');
    await create.getByLabel('Category').fill('Music\u0007');
    await create.getByRole('button', { name: 'Create channel' }).click();
    for (const [label, message] of [
      ['Address', '3 to 32 characters: a-z, 0-9, _ and -'],
      ['Stream title', '1 to 140 characters'],
      ['Category', 'control characters are not allowed'],
    ]) {
      const input = create.getByLabel(label, { exact: true });
      assert.equal(await input.getAttribute('aria-invalid'), 'true', `${label} is marked invalid`);
      const described = await input.getAttribute('aria-describedby');
      assert.equal(await page.locator(`#${described}`).textContent(), message, `${label} is described by its error`);
    }
    await poll('the focus on the first invalid field', () => create.getByLabel('Address').evaluate((el) => el === document.activeElement), 5_000, 50);
    await assertNoSidewaysScroll(page, `the create form with errors at ${viewport.width} px`);
    await screenshot(page, `create-channel-errors-${viewport.width}`);

    // What only the server knows goes next to its field too: the address is someone else's.
    await create.getByLabel('Address').fill(slug);
    await create.getByLabel('Stream title').fill('Mine');
    await create.getByLabel('Category').fill('Music');
    await create.getByRole('button', { name: 'Create channel' }).click();
    await page.locator('#ch-slug-error', { hasText: 'that slug is already taken' }).waitFor({ timeout: 10_000 });
    assert.equal(await create.getByLabel('Address').getAttribute('aria-invalid'), 'true');
    assert.equal(await create.getByLabel('Address').getAttribute('aria-describedby'), 'ch-slug-error');
    assert.equal(await create.getByLabel('Stream title').getAttribute('aria-invalid'), 'false');
    assert.equal(await create.getByLabel('Category').getAttribute('aria-invalid'), 'false');
    await poll('the focus on the address', () => create.getByLabel('Address').evaluate((el) => el === document.activeElement), 5_000, 50);
  }

  // The edit form: a channel of the newcomer's own, then three bad fields at once.
  const own = 'forms';
  await apiCall(server.url, '/channels', { method: 'POST', token: newcomer.access_token, body: { slug: own, title: 'Forms', category: 'Testing' } });
  for (const viewport of [{ width: 1280, height: 800 }, PHONE]) {
    await page.setViewportSize(viewport);
    await page.goto(`${server.url}/dashboard?channel=${own}&tab=edit`);
    const edit = page.getByRole('form', { name: 'Channel details' });
    await edit.getByLabel('Stream title').fill('   ');
    await edit.getByLabel('Category').fill('Testing\u0001');
    await edit.getByLabel('About').fill('about\u0002');
    await edit.getByRole('button', { name: 'Save' }).click();
    for (const label of ['Stream title', 'Category', 'About']) {
      assert.equal(await edit.getByLabel(label, { exact: true }).getAttribute('aria-invalid'), 'true', `${label} is marked invalid`);
    }
    await poll('the focus on the title', () => edit.getByLabel('Stream title').evaluate((el) => el === document.activeElement), 5_000, 50);
    await assertNoSidewaysScroll(page, `the edit form with errors at ${viewport.width} px`);
    await screenshot(page, `edit-channel-errors-${viewport.width}`);
  }
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
