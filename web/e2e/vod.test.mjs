// Recordings and clips end to end: a streamer pushes ~12 s with ffmpeg and stops; the broadcast
// becomes a video that is `ready`; a signed-in viewer finds it on the channel's Videos tab,
// plays it (currentTime advances, the duration shown is about 12 s), clips it from the video
// page, and the clip page plays the clip once it is cut. Then, live: the streamer's dashboard
// says the broadcast is being recorded, the player plays the DVR
// playlist, the viewer seeks back and stays there, LIVE returns to the edge, and the Clip
// button's toast leads to a clip of the live stream that plays.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, launchBrowser, poll, publish, register, screenshot, signedInContext, startServer, watchConsole } from './harness.mjs';

const slug = 'vodcast';
const liveSlug = 'dvrcast';
const PUSH_SECS = 12;

let server;
let browser;
let encoder;
let streamer;
let created;
const pageErrors = [];

before(async () => {
  // A short grace period: the broadcast (and its recording) ends soon after the encoder stops.
  server = await startServer({ env: { STREAMHALL_LIVE__GRACE_SECS: '3' } });
  browser = await launchBrowser();
  streamer = await register(server.url, 'vodcaster');
  created = await apiCall(server.url, '/channels', {
    method: 'POST',
    token: streamer.access_token,
    body: { slug, title: 'Recorded show', category: 'Testing' },
  });
});

/** The first <video>'s position, the live player's DVR seek bar and its behind-live state. */
const liveState = (page) =>
  page.evaluate(() => {
    const v = document.querySelector('video');
    const seek = document.querySelector('[data-testid="dvr-seek"]');
    return {
      t: v?.currentTime ?? 0,
      min: seek ? Number(seek.min) : null,
      max: seek ? Number(seek.max) : null,
      behind: document.querySelector('[data-testid="behind-live"]') != null,
    };
  });

after(async () => {
  await encoder?.stop();
  await browser?.close();
  await server?.stop();
});

/** The first <video>'s playback state. */
const videoState = (page) =>
  page.evaluate(() => {
    const v = document.querySelector('video');
    return v ? { t: v.currentTime, paused: v.paused, duration: v.duration, readyState: v.readyState } : null;
  });

/** Waits until the page's video plays on by `by` seconds. */
async function advances(page, by = 1.5, timeout = 30_000) {
  const start = await poll('a video with a current time', async () => {
    const s = await videoState(page);
    return s && s.t > 0 ? s : null;
  }, timeout);
  return poll(`currentTime to advance ${by} s past ${start.t}`, async () => {
    const s = await videoState(page);
    return s && s.t >= start.t + by ? s : null;
  }, timeout);
}

/** `m:ss` or `h:mm:ss` in seconds. */
const clock = (s) => s.trim().split(':').map(Number).reduce((a, p) => a * 60 + p, 0);

test('a broadcast becomes a video that plays, and a clip of it plays', async () => {
  // The recordings API must exist: say so plainly rather than time out on it.
  await apiCall(server.url, `/channels/${slug}/videos`).catch((e) => {
    throw new Error(`the server has no videos API (GET /channels/${slug}/videos): ${e.message}`);
  });

  encoder = publish(server.rtmp, created.stream_key, { seconds: PUSH_SECS });
  await poll('the channel live', async () => (await apiCall(server.url, `/channels/${slug}`)).is_live, 60_000, 500);
  await poll('the encoder to finish its push', () => encoder.child.exitCode != null || encoder.child.signalCode != null, 60_000, 500);
  assert.deepEqual(encoder.errors, [], 'ffmpeg reported no errors');
  await poll('the broadcast to end', async () => !(await apiCall(server.url, `/channels/${slug}`)).is_live, 30_000, 500);

  let last;
  const video = await poll('the recording to be ready', async () => {
    const page = await apiCall(server.url, `/channels/${slug}/videos`);
    last = page.items[0];
    if (last?.status === 'failed') throw new Error(`the recording failed: ${JSON.stringify(last)}`);
    return last?.status === 'ready' ? last : null;
  }, 120_000, 1000).catch((e) => {
    throw new Error(`${e.message}; the newest video: ${JSON.stringify(last)}`);
  });
  assert.ok(Math.abs(video.duration_secs - PUSH_SECS) < 4, `recorded ${video.duration_secs} s of a ${PUSH_SECS} s push`);

  const context = await signedInContext(browser, streamer);
  const page = await context.newPage();
  watchConsole(page, pageErrors);

  // The Videos tab lists it with its length; the card opens the video page.
  await page.goto(`${server.url}/c/${slug}/videos`);
  const card = page.getByRole('list', { name: 'Videos' }).getByRole('link').first();
  await card.waitFor({ timeout: 20_000 });
  assert.ok(Math.abs(clock(await card.getByTestId('video-duration').innerText()) - video.duration_secs) <= 1, 'the card shows the duration');
  await screenshot(page, 'vod-videos-tab');
  await card.click();
  await page.waitForURL(`**/v/${video.id}`);

  // It plays, and the player shows about the length that was pushed.
  await page.getByRole('button', { name: 'Play' }).first().click();
  await advances(page);
  const shown = clock(await page.getByTestId('vod-duration').innerText());
  assert.ok(Math.abs(shown - PUSH_SECS) <= 4, `the player shows ${shown} s for a ${PUSH_SECS} s push`);
  const media = await videoState(page);
  assert.ok(Math.abs(media.duration - video.duration_secs) < 2, `media duration ${media.duration} vs ${video.duration_secs}`);
  await screenshot(page, 'vod-playing');

  // A clip from the video page: the form starts from where the viewer is.
  await page.getByTestId('clip-open').click();
  const form = page.getByRole('form', { name: 'Make a clip' });
  await form.getByLabel('From').fill('0:02');
  await form.getByLabel('To').fill('0:09');
  await form.getByLabel('Title (optional)').fill('E2E clip');
  await form.getByRole('button', { name: 'Create clip' }).click();
  const link = page.getByRole('link', { name: 'open the clip', exact: true });
  await link.waitFor({ timeout: 15_000 }).catch(async (e) => {
    const err = await page.locator('.clip-form .error, .clip-form .form-error').allInnerTexts();
    throw new Error(`no clip link (${err.join('; ') || e.message})`);
  });
  await link.click();
  await page.waitForURL('**/clip/*');
  const clipId = page.url().split('/clip/')[1];

  // It is cut (progress words meanwhile), then plays.
  await page.getByTestId('clip-video').waitFor({ timeout: 90_000 }).catch(async (e) => {
    throw new Error(`the clip never became playable: ${JSON.stringify(await apiCall(server.url, `/clips/${clipId}`))} (${e.message})`);
  });
  await advances(page, 1);
  const clip = await apiCall(server.url, `/clips/${clipId}`);
  assert.equal(clip.status, 'ready');
  assert.equal(clip.video_id, video.id);
  assert.ok(Math.abs(clip.duration_secs - 7) < 2.5, `clip of ${clip.duration_secs} s for 0:02–0:09`);
  assert.equal(await page.getByRole('heading', { name: 'E2E clip' }).count(), 1);
  await screenshot(page, 'vod-clip-playing');

  await context.close();
  assert.deepEqual(pageErrors, [], 'no errors in the pages');
});

test('live: the DVR lets a viewer seek back and return to live, and the Clip button clips the stream', async () => {
  const owner = await register(server.url, 'dvrcaster');
  const ch = await apiCall(server.url, '/channels', { method: 'POST', token: owner.access_token, body: { slug: liveSlug, title: 'Rewind me', category: 'Testing' } });
  const viewer = await register(server.url, 'dvrviewer');
  const live = publish(server.rtmp, ch.stream_key, { seconds: 90 });
  try {
    const channel = await poll('the channel live', async () => {
      const c = await apiCall(server.url, `/channels/${liveSlug}`);
      return c.is_live && c.live ? c : null;
    }, 60_000, 500);
    assert.ok(channel.live.dvr_url, `the live broadcast offers a DVR playlist: ${JSON.stringify(channel.live)}`);

    // The streamer's dashboard says the broadcast is being recorded.
    const studio = await signedInContext(browser, owner);
    const sp = await studio.newPage();
    watchConsole(sp, pageErrors);
    await sp.goto(`${server.url}/dashboard?channel=${liveSlug}`);
    await poll('the recording on the dashboard', async () => /Recording/.test(await sp.getByTestId('recording-state').innerText({ timeout: 1000 })), 30_000, 500);
    await studio.close();

    const context = await signedInContext(browser, viewer);
    const page = await context.newPage();
    watchConsole(page, pageErrors);
    const playlists = [];
    page.on('request', (r) => /\.m3u8/.test(r.url()) && playlists.push(new URL(r.url()).pathname));
    await page.goto(`${server.url}/c/${liveSlug}`);
    await advances(page);
    // Low latency by default; "Normal latency" brings the DVR window.
    assert.ok(playlists.includes(`/hls/${liveSlug}/ll.m3u8`), `the player starts on the low-latency master (${[...new Set(playlists)].join(', ')})`);
    await page.locator('.player').hover();
    await page.getByRole('button', { name: 'Low latency' }).click();
    await page.getByRole('button', { name: 'Normal latency' }).waitFor();
    await advances(page);
    assert.ok(playlists.includes(`/hls/${liveSlug}/dvr.m3u8`), `the player loads the DVR master (${[...new Set(playlists)].join(', ')})`);

    // With 20 s in the window, back to 3 s after its start: it stays behind live.
    const window = await poll('a DVR window of 20 s', async () => {
      const s = await liveState(page);
      return s.max != null && s.max - s.min >= 20 ? s : null;
    }, 60_000, 500);
    await page.getByTestId('dvr-seek').fill(String(window.min + 3));
    await poll('the player behind live', async () => (await liveState(page)).behind, 10_000);
    await new Promise((r) => setTimeout(r, 4000));
    const back = await liveState(page);
    assert.ok(back.max - back.t > 12, `still well behind live after 4 s: at ${back.t}, edge ${back.max}`);
    await screenshot(page, 'dvr-behind');

    // LIVE returns to the edge.
    await page.locator('.live-edge').click();
    await poll('the player back at live', async () => {
      const s = await liveState(page);
      return !s.behind && s.max - s.t < 6 ? s : null;
    }, 15_000);

    // Clip the last 30 s (the window is long enough by now); the toast links to the clip.
    await poll('30 s of broadcast', async () => {
      const s = await liveState(page);
      return s.max - s.min >= 30;
    }, 60_000, 1000);
    await page.getByRole('button', { name: 'Clip the last 30 seconds' }).click();
    const toastLink = page.locator('.toast').getByRole('link', { name: 'Open the clip' });
    await toastLink.waitFor({ timeout: 15_000 }).catch(async (e) => {
      throw new Error(`no clip toast (${(await page.locator('.toast').allInnerTexts()).join('; ') || e.message})`);
    });
    await toastLink.click();
    await page.waitForURL('**/clip/*');
    const clipId = page.url().split('/clip/')[1];
    await page.getByTestId('clip-video').waitFor({ timeout: 90_000 }).catch(async (e) => {
      throw new Error(`the live clip never became playable: ${JSON.stringify(await apiCall(server.url, `/clips/${clipId}`))} (${e.message})`);
    });
    await advances(page, 1);
    const clip = await apiCall(server.url, `/clips/${clipId}`);
    assert.equal(clip.channel_slug, liveSlug);
    assert.ok(Math.abs(clip.duration_secs - 30) < 4, `a live clip of ${clip.duration_secs} s for 30 s`);
    await context.close();
  } finally {
    await live.stop();
  }
  assert.deepEqual(pageErrors, [], 'no errors in the pages');
});
