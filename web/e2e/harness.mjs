// End-to-end harness: the real server (E2E_SERVER_BIN, else the release build) on free ports
// with a fresh data directory, Debian's Chromium driven by playwright-core, and ffmpeg as the
// encoder.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';
export const BIN =
  process.env.E2E_SERVER_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'release', 'streamhall');

/** Screenshots go here (git-ignored), one PNG per step, for a person to look at. */
export const ARTIFACTS = process.env.E2E_ARTIFACTS ?? join(root, 'web', 'e2e', 'artifacts');

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/** Polls `fn` until it returns a truthy value, or fails after `timeout` ms saying what it waited for. */
export async function poll(what, fn, timeout = 20_000, every = 200) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Starts `streamhall serve`; resolves once it printed its URL, the RTMP URL and the admin password.
 * `env` adds configuration (`STREAMHALL_*` variables), e.g. a failing ffmpeg for error scenarios.
 */
export async function startServer({ env = {} } = {}) {
  if (!existsSync(BIN)) throw new Error(`no server binary at ${BIN}: build it with cargo build --release, or set E2E_SERVER_BIN`);
  const dir = mkdtempSync(join(tmpdir(), 'streamhall-e2e-'));
  const child = spawn(BIN, ['serve'], {
    env: {
      // The server reads every STREAMHALL_* variable as configuration: pass only ours.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STREAMHALL_'))),
      STREAMHALL_DATA_DIR: dir,
      STREAMHALL_HTTP__LISTEN: '127.0.0.1:0',
      STREAMHALL_RTMP__LISTEN: '127.0.0.1:0',
      STREAMHALL_LOG__LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  createInterface({ input: child.stderr }).on('line', (l) => {
    logs.push(l);
    if (process.env.E2E_VERBOSE) console.error('[server]', l);
  });
  const info = await new Promise((resolveInfo, reject) => {
    const seen = {};
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${logs.join('\n')}`)), 30_000);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${logs.join('\n')}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const l = line.trim();
      if (l.startsWith('streamhall is ready at ')) seen.url = l.slice('streamhall is ready at '.length);
      if (l.startsWith('encoders push to ')) seen.rtmp = l.slice('encoders push to '.length).replace(/\/STREAM_KEY$/, '');
      if (l.startsWith('password: ')) seen.adminPassword = l.slice('password: '.length);
      if (seen.url && seen.rtmp && seen.adminPassword) {
        clearTimeout(timer);
        resolveInfo(seen);
      }
    });
  });
  const stop = async () => {
    if (child.exitCode == null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { ...info, dir, logs, stop, child };
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** Pushes a test pattern with ffmpeg: 1 s keyframes, 4:2:0 (browsers cannot play 4:4:4). */
export function publish(rtmpUrl, key, { width = 854, height = 480, seconds = 120 } = {}) {
  const args = [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p', '-g', '30', '-b:v', '1500k',
    '-c:a', 'aac', '-b:a', '96k',
    '-f', 'flv', `${rtmpUrl}/${key}`,
  ];
  const child = spawn(process.env.E2E_FFMPEG ?? 'ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const errors = [];
  createInterface({ input: child.stderr }).on('line', (l) => errors.push(l));
  return {
    child,
    errors,
    stop: async () => {
      if (child.exitCode != null || child.signalCode != null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** JSON API calls from the test itself (setup that is not what a scenario tests). */
export async function apiCall(base, path, { method = 'GET', body, token } = {}) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Registers `username` (password "correct horse battery"); returns the auth response. */
export const register = (base, username) =>
  apiCall(base, '/auth/register', {
    method: 'POST',
    body: { username, email: `${username}@example.com`, password: 'correct horse battery' },
  });

/** The chat lines' texts in a page, in order (confirmed messages only). */
export const chatLines = (page) => page.locator('.chat-log .chat-line:not(.pending)').allInnerTexts();

/** Types `text` into the chat input and sends it. */
export async function say(page, text) {
  await page.getByLabel('Send a message').fill(text);
  await page.getByLabel('Send a message').press('Enter');
}

/** A browser context already signed in as `auth` (what register/login returned). */
export async function signedInContext(browser, auth) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const session = {
    access: auth.access_token,
    accessExpiresAt: Date.now() + auth.expires_in * 1000,
    refresh: auth.refresh_token,
    user: auth.user,
  };
  await context.addInitScript((s) => {
    if (!localStorage.getItem('streamhall.session')) localStorage.setItem('streamhall.session', s);
  }, JSON.stringify(session));
  return context;
}

/** Fails the test on errors in the page (CSP violations, uncaught exceptions). */
export function watchConsole(page, sink) {
  page.on('pageerror', (e) => sink.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) sink.push(`console: ${m.text()}`);
  });
}
