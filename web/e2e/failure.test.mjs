// No failure is silent: the server's transcoder (a stand-in for ffmpeg that exits 1 with a
// message) cannot produce video while the encoder pushes. The streamer's dashboard shows the
// problem in red, the viewer's player shows the failed state in words (not a spinner), the
// admin tree draws the failing child as an alarm, and nobody is told the channel went live: a
// follower's bell stays at 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiCall, launchBrowser, poll, publish, screenshot, signedInContext, startServer, watchConsole, register as registerAt } from './harness.mjs';

const slug = 'brokencast';
const FAILURE = 'simulated transcoder failure (e2e)';

let server;
let browser;
let encoder;
let scratch;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'streamhall-e2e-ffmpeg-'));
  const fake = join(scratch, 'ffmpeg-that-fails');
  writeFileSync(fake, `#!/bin/sh\necho "${FAILURE}" >&2\nexit 1\n`);
  chmodSync(fake, 0o755);
  server = await startServer({ env: { STREAMHALL_LIVE__LADDER__FFMPEG_PATH: fake } });
  browser = await launchBrowser();
});

after(async () => {
  await encoder?.stop();
  await browser?.close();
  await server?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const register = (username) => registerAt(server.url, username);

test('a transcoder that cannot run: the streamer sees why, the viewer sees a failed stream, nobody is notified', async () => {
  const errors = [];
  const streamer = await register('brokencaster');
  const created = await apiCall(server.url, '/channels', {
    method: 'POST',
    token: streamer.access_token,
    body: { slug, title: 'This will not play', category: 'Testing' },
  });
  const follower = await register('hopeful');
  await apiCall(server.url, `/channels/${slug}/follow`, { method: 'POST', token: follower.access_token });

  // The follower waits on the home page with the bell at 0.
  const fc = await signedInContext(browser, follower);
  const fp = await fc.newPage();
  watchConsole(fp, errors);
  await fp.goto(server.url);
  await poll('the bell at 0', async () => (await fp.getByTestId('bell').getAttribute('aria-label')) === 'Notifications, 0 unread');

  // The streamer watches the dashboard; a viewer waits on the watch page (desktop and phone).
  const sc = await signedInContext(browser, streamer);
  const sp = await sc.newPage();
  watchConsole(sp, errors);
  await sp.goto(`${server.url}/dashboard`);
  const vc = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Every phase the player shows, in order (a failed stream must never get to loading).
  await vc.addInitScript(() => {
    window.__phases = [];
    const seen = () => {
      const p = document.querySelector('.player')?.getAttribute('data-phase') ?? document.querySelector('.offline')?.getAttribute('data-phase');
      if (p && window.__phases[window.__phases.length - 1] !== p) window.__phases.push(p);
    };
    new MutationObserver(seen).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-phase'] });
  });
  const vp = await vc.newPage();
  watchConsole(vp, errors);
  await vp.goto(`${server.url}/c/${slug}`);
  await vp.getByText('brokencaster is offline').waitFor();
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const pp = await phone.newPage();
  watchConsole(pp, errors);
  await pp.goto(`${server.url}/c/${slug}`);

  encoder = publish(server.rtmp, created.stream_key, { seconds: 180 });

  // The streamer: a red banner saying viewers cannot see the stream, and why.
  const banner = sp.getByTestId('stream-problem');
  await poll('the problem banner on the dashboard', async () => (await banner.count()) > 0 && /Viewers cannot see your stream/.test(await banner.innerText()), 90_000, 500);
  // Failed: the transcoder keeps failing and its error is shown in words.
  await poll('the Failed badge and the transcoder error', async () => {
    const status = await sp.getByTestId('live-status').innerText();
    return /Failed/.test(status) && /simulated transcoder failure/.test(status) ? status : null;
  }, 90_000, 500);
  assert.match(await banner.getAttribute('class'), /\bbad\b/, 'the problem is red while failed');
  assert.equal(await sp.locator('[data-testid="live-status"] .live-badge').count(), 0, 'no LIVE badge');
  await screenshot(sp, 'failure-dashboard');
  await sp.setViewportSize({ width: 390, height: 844 });
  await banner.waitFor();
  const wide = await sp.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 390, `the dashboard fits a phone (${wide} px wide)`);
  await screenshot(sp, 'failure-dashboard-phone');

  // The viewer: the failed state with the channel's problem in words, no spinner.
  for (const [page, name] of [
    [vp, 'failure-watch'],
    [pp, 'failure-watch-phone'],
  ]) {
    await page.locator('.player[data-phase="failed"]').waitFor({ timeout: 30_000 });
    const problem = await page.getByTestId('stream-problem').innerText();
    assert.ok(problem.length > 10, `the problem in words: ${problem}`);
    assert.equal(await page.locator('.player .spinner').count(), 0, 'no spinner in the failed state');
    assert.equal(await page.locator('video').count(), 0, 'no video element while nothing can play');
    await screenshot(page, name);
  }

  const phases = await vp.evaluate(() => window.__phases);
  console.log('viewer phases:', phases.join(' -> '));
  assert.ok(!phases.includes('loading') && !phases.includes('playing'), `never loading or playing: ${phases.join(' -> ')}`);

  // The API agrees: failed, not live, not listed.
  const channel = await apiCall(server.url, `/channels/${slug}`);
  assert.equal(channel.stream_status, 'failed');
  assert.equal(channel.is_live, false);
  assert.equal(channel.live, null);
  const listed = await apiCall(server.url, '/channels?live=true');
  assert.ok(!listed.items.some((c) => c.slug === slug), 'a failed stream is not listed as live');

  // The admin tree: the stream and its failing child drawn as alarms, with the error.
  const admin = await apiCall(server.url, '/auth/login', { method: 'POST', body: { login: 'admin', password: server.adminPassword } });
  const ac = await signedInContext(browser, admin);
  const ap = await ac.newPage();
  watchConsole(ap, errors);
  await ap.goto(`${server.url}/admin`);
  const section = ap.locator(`section[data-slug="${slug}"]`);
  await section.waitFor({ timeout: 20_000 });
  await poll('the transcode child drawn as an alarm', async () => (await section.locator('tr[data-kind="transcode"][data-alarm="true"]').count()) > 0, 20_000);
  assert.match(await section.getAttribute('class'), /unhealthy/);
  assert.match(await section.innerText(), /simulated transcoder failure/);
  await section.scrollIntoViewIfNeeded();
  await screenshot(ap, 'failure-admin');

  // Nobody was told: well past the start deadline, the follower's bell is still at 0.
  assert.equal(await fp.getByTestId('bell').getAttribute('aria-label'), 'Notifications, 0 unread');
  const inbox = await apiCall(server.url, '/notifications?limit=10', { token: follower.access_token });
  assert.equal(inbox.unread, 0);
  assert.equal(inbox.items.length, 0, 'no go-live notification without video');
  await screenshot(fp, 'failure-follower-bell');

  // The encoder stops: the viewer sees the channel offline (it never went live: no "ended").
  await encoder.stop();
  await vp.locator('.offline[data-phase="offline"]').waitFor({ timeout: 40_000 });
  await vp.getByText('brokencaster is offline').waitFor();

  for (const c of [fc, sc, vc, phone, ac]) await c.close();
  assert.deepEqual(errors, [], 'no errors in the pages');
});
