// The last step of the README run (tests/readme.py): a viewer opens the channel's watch page in
// Debian's Chromium and the video plays. Not a `node --test` file: the README test starts the
// server and the encoder, then runs
//
//     node web/e2e/readme_viewer.mjs http://127.0.0.1:8080 SLUG
//
// It exits 0 once the page's video has played at least 2 s of media with the player in its
// `playing` phase, and 1 (saying what it saw, with a screenshot) otherwise.
import { launchBrowser, poll, screenshot } from './harness.mjs';

const [base, slug] = process.argv.slice(2);
if (!base || !slug) {
  console.error('usage: node web/e2e/readme_viewer.mjs BASE_URL SLUG');
  process.exit(2);
}

const browser = await launchBrowser();
let page;
try {
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(`${base}/c/${slug}`);
  const played = await poll(
    'the watch page to play the stream',
    () =>
      page.evaluate(() => {
        const v = document.querySelector('video');
        const phase = document.querySelector('[data-phase]')?.getAttribute('data-phase');
        return v && phase === 'playing' && v.currentTime >= 2 && !v.paused ? v.currentTime : 0;
      }),
    45_000,
    250,
  );
  const size = await page.evaluate(() => {
    const v = document.querySelector('video');
    return `${v.videoWidth}x${v.videoHeight}`;
  });
  await screenshot(page, 'readme-viewer');
  console.log(`readme-viewer: ok   Chromium plays ${base}/c/${slug}: ${played.toFixed(1)} s of media at ${size}`);
} catch (e) {
  const seen = page
    ? await page
        .evaluate(() => {
          const v = document.querySelector('video');
          const phase = document.querySelector('[data-phase]')?.getAttribute('data-phase');
          return `phase=${phase} video=${v ? `${v.currentTime}s paused=${v.paused} error=${v.error?.message}` : 'none'} text=${document.body.innerText.slice(0, 300)}`;
        })
        .catch(() => 'page gone')
    : 'no page';
  if (page) await screenshot(page, 'readme-viewer-failed').catch(() => {});
  console.error(`readme-viewer: FAILED ${e.message}\n  ${seen}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
