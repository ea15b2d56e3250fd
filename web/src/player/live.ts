// What the live player asks of hls.js and of the server: hls.js options for live, playlist and
// segment URLs carrying the viewer id and the current playback token, the latency measured from
// PROGRAM-DATE-TIME, and hls.js network errors in a viewer's words.
import { withToken } from '../api/playback';

/**
 * Segments behind the edge past which hls.js seeks back to live while playing. Paused, the
 * viewer decides (the player says how far behind it is, and Play jumps to live).
 */
export const MAX_LATENCY_SEGMENTS = 5;

/** A random id per page view: the server counts viewers by it (`vid`), not by address. */
const VIEWER_ID = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * hls.js options for live. LL-HLS: parts, blocking reloads and the playlist's PART-HOLD-BACK
 * (3 parts, 1 s by default) set the distance to the edge; any `liveSync*` option would override
 * it (hls.js prefers the user's config), so none is given, nor a maximum latency (hls.js refuses
 * a `liveMaxLatencyDurationCount` without a `liveSyncDurationCount` below it). MPEG-TS: 1 s
 * segments, 2 behind the edge, back to the edge past 5. Both catch up at up to 1.1x when behind.
 */
export function liveHlsConfig(lowLatency: boolean) {
  return {
    lowLatencyMode: lowLatency,
    ...(lowLatency ? {} : { liveSyncDurationCount: 2, liveMaxLatencyDurationCount: MAX_LATENCY_SEGMENTS }),
    maxLiveSyncPlaybackRate: 1.1,
    backBufferLength: 30,
    // A few quick retries inside hls.js; past them the player says so and retries itself.
    manifestLoadingMaxRetry: 2,
    levelLoadingMaxRetry: 4,
    fragLoadingMaxRetry: 4,
  };
}

/**
 * Adds the viewer id to playlist and segment requests (the server counts viewers on segment
 * fetches). Other URLs (keys, thumbnails) are left alone, and so is a URL that has one.
 */
export function withViewerId(url: string): string {
  if (!/\.(m3u8|ts|m4s|mp4|aac)(\?|$)/.test(url) || /[?&]vid=/.test(url)) return url;
  return url + (url.includes('?') ? '&' : '?') + 'vid=' + VIEWER_ID;
}

/**
 * A playlist or segment URL as the player requests it: with the viewer id, and with the current
 * playback token in place of the one the playlist listed (tokens are renewed while playing).
 */
export function mediaUrl(url: string, token: string | null): string {
  const counted = withViewerId(url);
  return /\.(m3u8|ts|m4s|mp4|aac)(\?|$)/.test(url) ? withToken(counted, token) : counted;
}

/** Seconds behind the source: from the playing segment's PROGRAM-DATE-TIME when known. */
export function measuredLatency(playingDate: Date | null | undefined, now: number, fallback: number | null): number | null {
  if (playingDate && !Number.isNaN(playingDate.getTime())) {
    const s = (now - playingDate.getTime()) / 1000;
    if (s >= 0 && s < 600) return s;
  }
  return fallback;
}

/** An hls.js fatal network error in words a viewer understands. */
export function networkMessage(data: { details: string; response?: { code?: number } }): string {
  const code = data.response?.code;
  const what = /manifest|level/i.test(data.details) ? 'the stream’s playlist' : 'the video';
  if (code === 404) return `The server no longer has ${what} (not found). The broadcast may have ended.`;
  if (code && code >= 500) return `The server could not send ${what} (error ${code}).`;
  if (/timeout/i.test(data.details)) return `Loading ${what} took too long: the connection is slow or interrupted.`;
  return `Could not load ${what}: check your connection.`;
}
