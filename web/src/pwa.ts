// Registers the service worker (web/public/sw.js) in production builds, so the app installs as a
// PWA and opens to an offline page without a network. The dev server has none: it would cache
// what Vite serves and keep stale modules around.
export function registerServiceWorker(): void {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return;
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((e: unknown) => {
      // Not fatal: the app works without it, only not offline.
      console.warn('service worker not registered:', e);
    });
  });
}
