// What the viewer's player shows, as a pure state machine: the channel's stream status (from
// the API, polled) and the media element's events go in; one phase comes out, and each phase
// has exactly one thing on screen. No phase is an endless spinner: `loading` lasts until the
// first frame or an error, and every error retries on its own.
import type { StreamStatus } from '../api/generated/StreamStatus';

export type Phase =
  /** No publisher: the channel's offline card. */
  | 'offline'
  /** A publisher is connected, no video yet: "Starting…", polling. */
  | 'starting'
  /** The server cannot produce video: the channel's `stream_problem`, polling. */
  | 'failed'
  /** Live: hls.js attached, waiting for the first frame. */
  | 'loading'
  | 'playing'
  /** Played, then ran out of buffer. */
  | 'buffering'
  /** Autoplay refused even muted: a Play button. */
  | 'blocked'
  /** The video or the API could not be fetched: the message, Retry, and a timed retry. */
  | 'network'
  /** The broadcast ended while watching. */
  | 'ended'
  /** Neither MSE nor native HLS. */
  | 'unsupported';

export type PlayerState = {
  phase: Phase;
  /** The channel's status as last polled. */
  status: StreamStatus;
  /** `stream_problem` while failed. */
  problem: string | null;
  /** What went wrong in `network`, in plain words, and where: the video or the API. */
  error: { message: string; source: 'media' | 'api' } | null;
  /** Network failures in a row (reset by the first frame): sets the retry delay. */
  attempt: number;
  /** Bumped to make the player load the stream again (a fresh hls.js). */
  load: number;
  /** A frame has played since the last load: only then is latency shown. */
  played: boolean;
};

export type PlayerEvent =
  | { type: 'status'; status: StreamStatus; problem: string | null }
  | { type: 'playing' }
  | { type: 'waiting' }
  | { type: 'blocked' }
  | { type: 'network_error'; message: string }
  /** The channel poll failed (`unreachable`) or worked again (`reachable`). */
  | { type: 'unreachable'; message: string }
  | { type: 'reachable' }
  /** The retry timer fired or the viewer pressed Retry. */
  | { type: 'retry' }
  | { type: 'ended' }
  | { type: 'unsupported' };

/** Phases in which a media element with hls.js is on the page. */
const MEDIA: ReadonlySet<Phase> = new Set(['loading', 'playing', 'buffering', 'blocked', 'network']);

export const hasMedia = (s: PlayerState) => s.status === 'live' && MEDIA.has(s.phase) && !(s.phase === 'network' && s.error?.source === 'api');

export function initialState(status: StreamStatus, problem: string | null): PlayerState {
  return { phase: phaseFor(status), status, problem: status === 'failed' ? problem : null, error: null, attempt: 0, load: 0, played: false };
}

function phaseFor(status: StreamStatus): Phase {
  return status === 'live' ? 'loading' : status;
}

export function reduce(s: PlayerState, e: PlayerEvent): PlayerState {
  switch (e.type) {
    case 'status': {
      const problem = e.status === 'failed' ? e.problem : null;
      // The video ended but the channel is still live: only the rendition it played ended (the
      // server dropped it to keep up with real time). Load again: the master no longer lists it.
      if (e.status === 'live' && s.status === 'live' && s.phase === 'ended') {
        return { ...s, problem, phase: 'loading', error: null, played: false, load: s.load + 1 };
      }
      if (e.status === s.status) return problem === s.problem ? s : { ...s, problem };
      if (e.status === 'offline') {
        // Watching (or trying to) when it stopped: the broadcast ended.
        const watching = s.status === 'live' || s.phase === 'ended';
        return { ...s, status: e.status, problem, phase: watching ? 'ended' : 'offline', error: null };
      }
      if (e.status === 'live') return { ...s, status: e.status, problem, phase: 'loading', error: null, played: false, load: s.load + 1 };
      return { ...s, status: e.status, problem, phase: e.status, error: null, played: false };
    }
    case 'playing':
      if (s.status !== 'live' || s.phase === 'ended') return s;
      return { ...s, phase: 'playing', played: true, attempt: 0, error: null };
    case 'waiting':
      return s.phase === 'playing' ? { ...s, phase: 'buffering' } : s;
    case 'blocked':
      return s.status === 'live' && (s.phase === 'loading' || s.phase === 'buffering') ? { ...s, phase: 'blocked' } : s;
    case 'network_error':
      if (s.status !== 'live' || s.phase === 'ended' || s.phase === 'unsupported') return s;
      return { ...s, phase: 'network', error: { message: e.message, source: 'media' }, attempt: s.attempt + 1, played: false };
    case 'unreachable':
      // A failed poll does not interrupt video that plays: only the pages without video.
      if (MEDIA.has(s.phase) && s.error?.source !== 'api') return s;
      if (s.phase === 'unsupported') return s;
      return { ...s, phase: 'network', error: { message: e.message, source: 'api' }, attempt: s.attempt + 1 };
    case 'reachable':
      if (s.phase !== 'network' || s.error?.source !== 'api') return s;
      return { ...s, phase: phaseFor(s.status), error: null, attempt: 0, load: s.status === 'live' ? s.load + 1 : s.load };
    case 'retry':
      // The API: the caller polls again and `reachable` / `unreachable` decides.
      if (s.phase === 'network' && s.error?.source === 'api') return s;
      // Anything with media (a network error, a load that takes too long): a fresh load.
      if (s.status !== 'live' || !MEDIA.has(s.phase)) return s;
      return { ...s, phase: 'loading', error: null, played: false, load: s.load + 1 };
    case 'ended':
      return s.status === 'live' ? { ...s, phase: 'ended', error: null } : s;
    case 'unsupported':
      return { ...s, phase: 'unsupported' };
  }
}

/** Backoff for automatic retries: 1, 2, 4, 8, 16, then every 30 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/** Whether the latency badge may show a number: only once a frame has played. */
export function showLatency(s: PlayerState, latency: number | null): latency is number {
  return s.played && (s.phase === 'playing' || s.phase === 'buffering') && latency != null && latency > 0;
}

// ---- Distance to the live edge

/** How far behind the live edge counts as "behind live", in target durations past the target latency. */
export const BEHIND_TARGET_DURATIONS = 3;

/**
 * Seconds the playhead is behind where a live player should be: the estimated live edge
 * (the playlist's end plus the time since it last advanced) minus the target latency, minus
 * the playhead. 0 at the target; it grows by a second per second while paused.
 */
export function driftSeconds(edge: number, position: number, targetLatency: number): number {
  return Math.max(0, edge - targetLatency - position);
}

/**
 * "Behind live" with hysteresis: on past 3 target durations of drift, off again below 2 (a
 * playlist refresh moves the edge by a segment at once, which must not make it flicker).
 */
export function isBehind(wasBehind: boolean, drift: number, targetDuration: number): boolean {
  const td = targetDuration > 0 ? targetDuration : 1;
  return wasBehind ? drift > (BEHIND_TARGET_DURATIONS - 1) * td : drift > BEHIND_TARGET_DURATIONS * td;
}

/** Seconds behind, rounded for people: "4 s", "1 min 20 s". */
export function behindLabel(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}
