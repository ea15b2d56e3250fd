// JS shipped per page, gzip level 9: the entry chunk and its static imports, plus the lazy
// chunks a page fetches when it opens. Reads the Vite manifest of a build:
//
//   npm run build && node scripts/bundle-size.mjs [distDir]
//
// A page names the source modules it needs. One that is a key of the manifest is a chunk of
// its own (a dynamic import) and counts with its static imports; one that is not is bundled
// into the entry, which every page loads anyway. So making a page lazy changes the table
// without changing this file.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(process.argv[2] ?? join(web, 'dist'));
const HOME_GOAL = 150_000; // bytes of gzip JS on the home page (the web-app issue)

const PAGES = [
  { page: 'home', route: '/', needs: ['src/pages/Home.tsx'] },
  // The player imports hls.js when playback starts (Chromium has no native HLS).
  { page: 'watch', route: '/c/:slug', needs: ['src/pages/Watch.tsx', 'hls.js'] },
  { page: 'dashboard', route: '/dashboard', needs: ['src/pages/Dashboard.tsx'] },
  { page: 'dashboard, edit tab', route: '/dashboard?tab=edit', needs: ['src/pages/Dashboard.tsx', 'src/pages/Webhooks.tsx'] },
  { page: 'admin', route: '/admin', needs: ['src/pages/Admin.tsx'] },
  { page: 'analytics', route: '/dashboard/:slug/analytics', needs: ['src/pages/Analytics.tsx'] },
];

let manifest;
try {
  manifest = JSON.parse(readFileSync(join(dist, '.vite', 'manifest.json'), 'utf8'));
} catch (e) {
  console.error(`no Vite manifest in ${dist} (${e.code ?? e.message}): run npm run build first (build.manifest is on)`);
  process.exit(1);
}

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
if (!entryKey) throw new Error('the manifest has no entry');

/** The manifest key of a source module or package, if it is a chunk of its own. */
function chunkKey(module) {
  if (manifest[module]) return module;
  return Object.keys(manifest).find((k) => k.includes(`node_modules/${module}/`));
}

/** Files of a chunk and of everything it imports statically. */
function closure(key, files = new Set()) {
  const chunk = manifest[key];
  if (files.has(chunk.file)) return files;
  files.add(chunk.file);
  for (const k of chunk.imports ?? []) closure(k, files);
  return files;
}

const sizes = new Map();
function size(file) {
  if (!sizes.has(file)) {
    const bytes = readFileSync(join(dist, file));
    sizes.set(file, { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
  }
  return sizes.get(file);
}

const kB = (n) => (n / 1000).toFixed(1);
const rows = PAGES.map(({ page, route, needs }) => {
  const files = closure(entryKey);
  const lazy = [];
  for (const m of needs) {
    const k = chunkKey(m);
    if (k) {
      closure(k, files);
      lazy.push(manifest[k].file.replace(/^assets\//, ''));
    }
  }
  const total = [...files].map(size).reduce((a, s) => ({ raw: a.raw + s.raw, gzip: a.gzip + s.gzip }), { raw: 0, gzip: 0 });
  return { page, route, files: files.size, ...total, lazy: lazy.join(', ') || '(entry only)' };
});

console.log(`JS per page in ${dist} (gzip -9, kB = 1000 bytes)\n`);
const header = ['page', 'route', 'files', 'raw kB', 'gzip kB', 'chunks beyond the entry'];
const table = [header, ...rows.map((r) => [r.page, r.route, String(r.files), kB(r.raw), kB(r.gzip), r.lazy])];
const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
const align = (c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : i < header.length - 1 ? c.padEnd(widths[i]) : c);
for (const row of table) console.log(row.map(align).join('  '));

console.log('\nchunks:');
for (const [file, s] of [...sizes].sort((a, b) => b[1].gzip - a[1].gzip)) {
  console.log(`  ${file.padEnd(32)} ${kB(s.raw).padStart(7)} kB raw ${kB(s.gzip).padStart(7)} kB gzip`);
}

const home = rows.find((r) => r.page === 'home');
console.log(`\nhome page JS: ${kB(home.gzip)} kB gzip, goal < ${kB(HOME_GOAL)} kB: ${home.gzip < HOME_GOAL ? 'met' : 'NOT met'}`);
