// A password-protected channel's recorded video in the web app: a viewer enters the password on
// the video's page, the video plays and its subtitles load with the playback token; the channel's
// Videos tab then shows the video's thumbnail (with the token this tab holds), while a visitor
// without the password sees a lock in its place and no broken image.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, launchBrowser, poll, publish, register, screenshot, startServer, watchConsole } from './harness.mjs';

const slug = 'backroom';
const PASSWORD = 'velvet-rope-88';
const PUSH_SECS = 8;
const VTT = 'WEBVTT\n\n00:00:00.500 --> 00:00:06.000\nmembers only\n';

let server;
let browser;
let encoder;

before(async () => {
  server = await startServer({ env: { STREAMHALL_LIVE__GRACE_SECS: '3' } });
  browser = await launchBrowser();
});

after(async () => {
  await encoder?.stop();
  await browser?.close();
  await server?.stop();
});

test("a password channel's video: thumbnail and subtitles load with the token, a lock without it", async () => {
  const errors = [];
  const streamer = await register(server.url, 'backroomer');
  const token = streamer.access_token;
  const created = await apiCall(server.url, '/channels', { method: 'POST', token, body: { slug, title: 'Members only', category: 'Testing' } });
  encoder = publish(server.rtmp, created.stream_key, { seconds: PUSH_SECS });
  await poll('the encoder to finish its push', () => encoder.child.exitCode != null || encoder.child.signalCode != null, 60_000, 500);
  const video = await poll('the recording to be ready', async () => {
    const v = (await apiCall(server.url, `/channels/${slug}/videos`)).items[0];
    if (v?.status === 'failed') throw new Error(`the recording failed: ${JSON.stringify(v)}`);
    return v?.status === 'ready' ? v : null;
  }, 120_000, 1000);
  assert.ok(video.thumbnail_url, `the video has a thumbnail: ${JSON.stringify(video)}`);
  await apiCall(server.url, `/videos/${video.id}/subtitles/en`, { method: 'PUT', token, body: { label: 'English', vtt: VTT } });
  await apiCall(server.url, `/channels/${slug}`, { method: 'PATCH', token, body: { visibility: 'password', playback_password: PASSWORD } });
  const bare = await fetch(`${server.url}/vod/${video.id}/thumb.jpg`);
  assert.equal(bare.status, 403, 'the thumbnail needs a token');

  // A visitor without the password: the Videos tab shows a lock, not a broken image.
  const stranger = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const lockedPage = await stranger.newPage();
  watchConsole(lockedPage, errors);
  await lockedPage.goto(`${server.url}/c/${slug}/videos`);
  await lockedPage.getByTestId('thumb-locked').first().waitFor();
  assert.equal(await lockedPage.locator('.channel-card img').count(), 0, 'no image without a token');
  await screenshot(lockedPage, 'private-vod-locked');
  await stranger.close();

  // A viewer with the password, on the video's page.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watchConsole(page, errors);
  const vod = [];
  page.on('response', (r) => {
    if (/\/vod\//.test(r.url())) vod.push({ path: new URL(r.url()).pathname, token: new URL(r.url()).searchParams.get('token'), status: r.status() });
  });
  await page.goto(`${server.url}/v/${video.id}`);
  const prompt = page.getByRole('form', { name: 'Channel password' });
  await prompt.getByLabel('Password').fill(PASSWORD);
  await prompt.getByRole('button', { name: 'Watch' }).click();
  await page.getByRole('button', { name: 'Play' }).first().click();
  await poll('the video to play', async () => page.evaluate(() => (document.querySelector('video')?.currentTime ?? 0) > 0), 60_000, 200);
  const subs = await poll('the subtitles fetched', async () => vod.find((r) => r.path.endsWith('/subs/en.vtt')), 20_000, 200);
  assert.equal(subs.status, 200, 'subtitles load');
  assert.ok(subs.token, 'with the token');
  // The seek previews: the VTT and the sprite sheet it points to, both with the token.
  if (video.sprite_vtt_url) {
    const sheet = await poll('the sprite sheet fetched', async () => vod.find((r) => r.path.endsWith('/sprite.jpg')), 20_000, 200);
    assert.equal(sheet.status, 200, 'the sprite sheet loads');
    assert.ok(sheet.token, 'with the token');
  }
  // The track is there and its cue loads once shown.
  await page.getByRole('button', { name: /Subtitles/ }).click();
  await page.getByRole('menuitemradio', { name: 'English' }).click();
  await poll('the subtitle cue to load', () => page.evaluate(() => document.querySelector('video')?.textTracks[0]?.cues?.length ?? 0), 20_000, 200);
  await screenshot(page, 'private-vod-playing');

  // The channel's Videos tab (same tab, same token): the thumbnail shows.
  await page.getByRole('link', { name: 'More videos' }).click();
  await page.waitForURL(`**/c/${slug}/videos`);
  const img = page.locator(`[data-video-id="${video.id}"] img`);
  await img.waitFor();
  await poll('the thumbnail to load', () => img.evaluate((i) => i.complete && i.naturalWidth > 0), 20_000, 200);
  const thumb = vod.find((r) => r.path.endsWith('/thumb.jpg'));
  assert.equal(thumb?.status, 200, `the thumbnail: ${JSON.stringify(thumb)}`);
  assert.equal(await page.getByTestId('thumb-locked').count(), 0, 'no lock with the token');
  await screenshot(page, 'private-vod-thumbnails');

  assert.deepEqual(vod.filter((r) => r.status >= 400), [], 'no refused media request');
  assert.deepEqual(errors, []);
  await context.close();
});
