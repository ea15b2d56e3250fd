// Glass-to-glass latency on the watch page, in Chromium with hls.js: low latency (LL-HLS) and
// normal (MPEG-TS, the DVR master), the top and the lowest rendition of the default ladder, and
// the peer, nginx-rtmp with 1 s fragments, played by hls.js with the watch page's normal-latency
// options, from the same encoder in the same run.
//
//   cd web && node ../loadtests/bench/watch_latency.mjs [SECONDS_PER_PHASE] [PART_MS]
//
// The sender is one ffmpeg (1280x720 30 fps test picture, 1 s GOP, x264 ultrafast zerolatency)
// pushing over RTMP to a release streamhall on its embedded defaults (E2E_SERVER_BIN, else
// target/release/streamhall) and, through the tee muxer, to nginx-rtmp. Before encoding, ffmpeg
// burns its wall clock into each frame: 24 boxes along the top edge, black or white, the
// milliseconds modulo 2^24 in Gray code (one `drawbox` per bit, enabled by an expression on
// `time(0)`; Gray code keeps a value read across a millisecond boundary one off, not garbage).
// In the browser, each presented frame (requestVideoFrameCallback) is drawn to a canvas, the
// boxes are read back and the clock decoded; glass-to-glass is the frame's expected display time
// minus that clock. Same machine, same clock. The watch page's own figure (browser clock minus
// the PROGRAM-DATE-TIME of the frame playing, stamped when the server received the frame) is
// sampled beside it: the difference between the two is the sender's encoder and the RTMP hop.
//
// Each phase is a fresh page (the latency choice stored as the toggle stores it, the quality
// picked from the menu), settles for 10 s, then samples for SECONDS_PER_PHASE (default 60);
// p50 and p95.
// PART_MS sets live.ladder.part_ms (default 333). Needs ffmpeg, Chromium, nginx with
// libnginx-mod-rtmp (apt-get install nginx libnginx-mod-rtmp). Loopback only.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { apiCall, launchBrowser, poll, register, startServer } from '../../web/e2e/harness.mjs';

const seconds = Number(process.argv[2] ?? 60);
const partMs = process.argv[3];
const BITS = 24;
const BOX = 32;
const NGINX_RTMP = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const HLS_JS = resolve('node_modules/hls.js/dist/hls.min.js');
for (const [what, path] of [['nginx-rtmp (apt-get install nginx libnginx-mod-rtmp)', NGINX_RTMP], ['hls.js (run from web/ after npm install)', HLS_JS]]) {
  if (!existsSync(path)) throw new Error(`missing ${what}: ${path}`);
}

/** ffmpeg `-vf`: a black strip, then one white box per set bit of the wall clock's Gray code. */
function clockFilter() {
  const ms = 'time(0)*1000';
  const boxes = [`drawbox=x=0:y=0:w=${BITS * BOX}:h=${BOX}:color=black:t=fill`];
  for (let i = 0; i < BITS; i++) {
    // Gray bit i = bit i XOR bit i+1 (the top bit stands alone: the value is taken modulo 2^24).
    const bit =
      i === BITS - 1
        ? `mod(floor(${ms}/${2 ** i})\\,2)`
        : `mod(floor(${ms}/${2 ** i})+floor(${ms}/${2 ** (i + 1)})\\,2)`;
    boxes.push(`drawbox=x=${i * BOX}:y=0:w=${BOX}:h=${BOX}:color=white:t=fill:enable='${bit}'`);
  }
  return boxes.join(',');
}

/**
 * Runs in the page: reads the clock of every presented frame (at most every 100 ms) into
 * `window.__g2g`, beside the watch page's own latency figure when there is one.
 */
function readClock({ bits, box }) {
  const samples = [];
  window.__g2g = samples;
  window.__g2gRejected = 0;
  const canvas = document.createElement('canvas');
  canvas.width = bits * box;
  canvas.height = box;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const video = document.querySelector('video');
  let last = 0;
  const onFrame = (_now, meta) => {
    const shownAt = performance.timeOrigin + meta.expectedDisplayTime;
    if (shownAt - last >= 100 && video.videoWidth) {
      last = shownAt;
      const sx = (bits * box * video.videoWidth) / 1280;
      const sy = (box * video.videoHeight) / 720;
      ctx.drawImage(video, 0, 0, sx, sy, 0, 0, bits * box, box);
      const px = ctx.getImageData(0, 0, bits * box, box).data;
      let gray = 0;
      for (let i = 0; i < bits; i++) {
        const at = ((box >> 1) * bits * box + i * box + (box >> 1)) * 4;
        const luma = (px[at] + px[at + 1] + px[at + 2]) / 3;
        if (luma > 128) gray |= 1 << i;
      }
      let sent = gray;
      for (let s = gray >> 1; s; s >>= 1) sent ^= s;
      const modulus = 2 ** bits;
      const g2g = ((((Math.round(shownAt) % modulus) - sent) % modulus) + modulus) % modulus;
      // Anything over a minute is a misread box (the strip under a quality switch, say).
      if (g2g < 60_000) {
        const pdt = Number(document.querySelector('.live-edge')?.getAttribute('data-latency'));
        samples.push({ g2g: g2g / 1000, pdt: pdt > 0 ? pdt : null, height: video.videoHeight });
      } else window.__g2gRejected += 1;
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

/** nginx-rtmp with 1 s fragments, and a page playing its playlist with hls.js. */
async function startNginx(dir) {
  mkdirSync(join(dir, 'hls'), { recursive: true });
  mkdirSync(join(dir, 'www'), { recursive: true });
  copyFileSync(HLS_JS, join(dir, 'www', 'hls.min.js'));
  // The watch page's normal-latency hls.js options (web/src/player/Player.tsx, liveHlsConfig).
  writeFileSync(
    join(dir, 'www', 'index.html'),
    `<!doctype html><meta charset="utf-8"><video muted autoplay playsinline style="width:1280px"></video>
<script src="/hls.min.js"></script><script>
const h = new Hls({ lowLatencyMode: false, liveSyncDurationCount: 2, liveMaxLatencyDurationCount: 5, maxLiveSyncPlaybackRate: 1.1, backBufferLength: 30 });
h.loadSource('/hls/peer.m3u8'); h.attachMedia(document.querySelector('video'));
</script>`,
  );
  writeFileSync(
    join(dir, 'nginx.conf'),
    `load_module ${NGINX_RTMP};
user root;
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
rtmp { server { listen 127.0.0.1:19351; chunk_size 4096;
  application live { live on; record off; hls on; hls_path ${dir}/hls; hls_fragment 1s; hls_playlist_length 6s; } } }
http {
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; text/html html; application/javascript js; }
  access_log off;
  client_body_temp_path ${dir}/tmp-body; proxy_temp_path ${dir}/tmp-proxy; fastcgi_temp_path ${dir}/tmp-fcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi; scgi_temp_path ${dir}/tmp-scgi;
  server { listen 127.0.0.1:18619; root ${dir}/www;
    location /hls/ { alias ${dir}/hls/; add_header Cache-Control no-cache; } }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  await poll('nginx up', async () => (await fetch('http://127.0.0.1:18619/index.html')).ok, 10_000, 200);
  return { url: 'http://127.0.0.1:18619/', rtmp: 'rtmp://127.0.0.1:19351/live/peer', stop: () => child.kill('SIGQUIT') };
}

/** One ffmpeg, the clock burned in before encoding, to streamhall and to the peer. */
function send(targets, totalSeconds) {
  const tee = targets.map((t) => `[f=flv:onfail=ignore]${t}`).join('|');
  const args = [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(totalSeconds), '-vf', clockFilter(),
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '30', '-b:v', '2500k',
    '-c:a', 'aac', '-b:a', '96k', '-flags', '+global_header',
    '-f', 'tee', tee,
  ];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  createInterface({ input: child.stderr }).on('line', (l) => console.error('[sender]', l));
  return { stop: () => child.exitCode == null && child.kill('SIGINT') };
}

const quantile = (xs, q) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

async function measure(page, label) {
  await page.waitForTimeout(10_000);
  await page.evaluate(readClock, { bits: BITS, box: BOX });
  await page.waitForTimeout(seconds * 1000);
  const { samples, rejected } = await page.evaluate(() => ({ samples: window.__g2g, rejected: window.__g2gRejected }));
  const g2g = samples.map((s) => s.g2g);
  const pdt = samples.filter((s) => s.pdt != null);
  const heights = [...new Set(samples.map((s) => s.height))].join('/');
  const row = {
    label,
    height: heights,
    n: g2g.length,
    rejected,
    p50: quantile(g2g, 0.5),
    p95: quantile(g2g, 0.95),
    pagep50: pdt.length ? quantile(pdt.map((s) => s.pdt), 0.5) : null,
    // What the page's figure leaves out: the sender's encoder and the hop to the server.
    gap: pdt.length ? quantile(pdt.map((s) => s.g2g - s.pdt), 0.5) : null,
  };
  console.log(JSON.stringify(row));
  return row;
}

const work = mkdtempSync(join(tmpdir(), 'streamhall-latency-'));
const server = await startServer({ env: partMs ? { STREAMHALL_LIVE__LADDER__PART_MS: partMs } : {} });
const nginx = await startNginx(work);
const browser = await launchBrowser();
let sender;
let failed = false;
try {
  const owner = await register(server.url, 'latency');
  const created = await apiCall(server.url, '/channels', {
    method: 'POST',
    token: owner.access_token,
    body: { slug: 'latency', title: 'latency' },
  });
  sender = send([`${server.rtmp}/${created.stream_key}`, nginx.rtmp], 60 + 5 * (seconds + 25));
  await poll('the channel live', async () => (await apiCall(server.url, '/channels/latency')).live?.low_latency_url, 60_000, 500);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const rows = [];
  for (const mode of ['Low latency', 'Normal latency']) {
    for (const rendition of ['source', '360p']) {
      // A viewer opening the page with that latency choice, then picking the quality.
      const page = await context.newPage();
      await page.addInitScript((m) => localStorage.setItem('streamhall.latency', m), mode === 'Low latency' ? 'low' : 'normal');
      await page.goto(`${server.url}/c/latency`);
      await page.locator('.player').hover();
      await page.getByRole('button', { name: /^Quality:/ }).click();
      await page.getByRole('menuitemradio', { name: new RegExp(`^${rendition}`) }).click();
      if ((await page.locator('.latency-toggle').innerText()) !== mode) throw new Error(`the page is not in ${mode}`);
      rows.push(await measure(page, `streamhall, ${mode.toLowerCase()}, ${rendition}`));
      await page.close();
    }
  }
  await poll('the peer playlist', async () => (await fetch('http://127.0.0.1:18619/hls/peer.m3u8')).ok, 30_000, 500);
  const peer = await context.newPage();
  await peer.goto(nginx.url);
  rows.push(await measure(peer, 'nginx-rtmp, 1 s fragments, source'));

  console.log('| what | height | glass-to-glass p50 | p95 | watch page figure p50 | samples (misread) |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.label} | ${r.height} | ${r.p50?.toFixed(2)} s | ${r.p95?.toFixed(2)} s | ` +
        `${r.pagep50 == null ? '-' : `${r.pagep50.toFixed(2)} s (${r.gap.toFixed(2)} s less)`} | ${r.n} (${r.rejected}) |`,
    );
  }
} catch (e) {
  failed = true;
  for (const p of browser.contexts().flatMap((c) => c.pages())) await p.screenshot({ path: join(work, 'failed.png') }).catch(() => {});
  console.error(`failed; the page as it was: ${join(work, 'failed.png')}`);
  throw e;
} finally {
  sender?.stop();
  await browser.close();
  nginx.stop();
  await server.stop();
  if (!failed) rmSync(work, { recursive: true, force: true });
}
