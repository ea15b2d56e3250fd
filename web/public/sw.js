// streamhall's service worker: the app installs as a PWA and opens to an offline page when the
// network is gone. It caches only the app's own files: the hashed build assets (they never change)
// and the offline page with its icon. Never the API, HLS media or sockets: those always go to the
// network, so nothing a viewer sees is stale. Page loads go to the network first; only when that
// fails is the offline page shown. Served with `Cache-Control: no-cache`, so a new release's worker
// is picked up on the next visit.
const VERSION = 'v1';
const SHELL = `streamhall-shell-${VERSION}`;
const ASSETS = 'streamhall-assets';
const OFFLINE = '/offline.html';
const PRECACHE = [OFFLINE, '/icons/icon-192.png', '/favicon.svg', '/manifest.webmanifest'];
// Old releases' hashed files are dropped beyond this many.
const MAX_ASSETS = 80;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(SHELL)
      .then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith('streamhall-shell-') && n !== SHELL).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

/** What the worker leaves alone: other origins, writes, the API (and its sockets), media. */
function bypass(request, url) {
  return (
    request.method !== 'GET' ||
    url.origin !== self.location.origin ||
    url.pathname.startsWith('/api/') ||
    url.pathname.startsWith('/hls/') ||
    request.headers.get('upgrade') === 'websocket'
  );
}

async function trim(cache) {
  const keys = await cache.keys();
  await Promise.all(keys.slice(0, Math.max(0, keys.length - MAX_ASSETS)).map((k) => cache.delete(k)));
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (bypass(request, url)) return;

  if (request.mode === 'navigate') {
    event.respondWith(
      fetch(request).catch(async () => (await caches.match(OFFLINE, { cacheName: SHELL })) ?? Response.error()),
    );
    return;
  }

  if (url.pathname.startsWith('/assets/')) {
    // Hashed names: a cached copy is always right.
    event.respondWith(
      caches.open(ASSETS).then(async (cache) => {
        const hit = await cache.match(request);
        if (hit) return hit;
        const res = await fetch(request);
        if (res.ok) {
          await cache.put(request, res.clone());
          trim(cache);
        }
        return res;
      }),
    );
    return;
  }

  if (PRECACHE.includes(url.pathname)) {
    // The offline page's own files: the network when it answers, else the installed copy.
    event.respondWith(fetch(request).catch(async () => (await caches.match(request, { cacheName: SHELL })) ?? Response.error()));
  }
});
