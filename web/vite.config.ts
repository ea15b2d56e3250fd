/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the app on :5173 and forwards the API, HLS and WebSockets to a
// streamhall server on :8080 (`./dev run` in another terminal).
const server = process.env.STREAMHALL_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    manifest: true, // dist/.vite/manifest.json: which chunks each entry loads (scripts/bundle-size.mjs)
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: {
      '/api': { target: server, ws: true, changeOrigin: false },
      '/hls': { target: server },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['src/test-setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
