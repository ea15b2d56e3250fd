// Watching a channel that is not public: get a playback token from the server (with the
// channel's password, or as a follower), add it to every HLS request, and renew it before it
// runs out. The password stays in memory for the page's lifetime (renewals need it) and is
// never stored.
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { ApiError, api } from './client';
import type { PlaybackToken } from './generated/PlaybackToken';
import type { PlaybackTokenRequest } from './generated/PlaybackTokenRequest';

export type Visibility = 'public' | 'unlisted' | 'password' | 'followers';

/** `url` with its `token` query parameter set to `token` (replacing one it already has). */
export function withToken(url: string, token: string | null | undefined): string {
  if (!token) return url;
  if (/[?&]token=[^&#]*/.test(url)) return url.replace(/([?&]token=)[^&#]*/, `$1${token}`);
  return url + (url.includes('?') ? '&' : '?') + 'token=' + token;
}

// The latest token this tab got per channel, in memory only (never stored), so the channel's
// lists and other pages show its thumbnails with a token a player already holds.
const held = new Map<string, { token: string; expiresAt: number }>();
const heldListeners = new Set<() => void>();

function remember(slug: string, token: string, ttlSecs: number) {
  held.set(slug, { token, expiresAt: Date.now() + ttlSecs * 1000 });
  heldListeners.forEach((l) => l());
}

/** The token this tab holds for `slug`, if it has more than 5 s to live. */
export function heldToken(slug: string): string | null {
  const h = held.get(slug);
  return h && h.expiresAt - 5_000 > Date.now() ? h.token : null;
}

/** Test helper: forget every held token. */
export function forgetHeldTokens() {
  held.clear();
  heldListeners.forEach((l) => l());
}

function subscribeHeld(l: () => void) {
  heldListeners.add(l);
  return () => heldListeners.delete(l);
}

/** When to renew a token that lives `ttlSecs`: at 80% of its life, never sooner than 5 s. */
export function renewDelayMs(ttlSecs: number): number {
  return Math.max(5_000, Math.floor(ttlSecs * 800));
}

/**
 * What stands between the viewer and the video: nothing (`open`, with a token for a channel that
 * needs one), a password prompt, a followers-only notice (signed in or not), or an error.
 */
export type Gate =
  | { kind: 'open' }
  | { kind: 'checking' }
  | { kind: 'password'; error?: string }
  | { kind: 'followers'; signedIn: boolean }
  | { kind: 'error'; message: string };

/** The gate a refused token request leaves the viewer at. */
export function gateForError(e: unknown): Gate {
  if (e instanceof ApiError) {
    if (e.status === 422 && e.field === 'password') return { kind: 'password' };
    if (e.code === 'wrong_password') return { kind: 'password', error: 'That password is not right.' };
    if (e.status === 429) {
      const wait = e.retryAfter ? ` Try again in ${e.retryAfter} s.` : ' Try again in a few minutes.';
      return { kind: 'password', error: `Too many wrong passwords.${wait}` };
    }
    if (e.code === 'followers_only') return { kind: 'followers', signedIn: true };
    if (e.status === 401) return { kind: 'followers', signedIn: false };
    return { kind: 'error', message: e.message };
  }
  return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
}

export const playbackTokenPath = (slug: string) => `/channels/${encodeURIComponent(slug)}/playback-token`;

/**
 * The playback token of channel `slug` while the page shows it. `visibility` null: not known
 * yet. `attempt` bumps (e.g. after following) make it ask again.
 */
export function usePlaybackToken(slug: string, visibility: Visibility | string | null, signedIn: boolean, attempt = 0) {
  const needsToken = visibility != null && visibility !== 'public';
  const [token, setToken] = useState<string | null>(null);
  const [gate, setGate] = useState<Gate>({ kind: 'checking' });
  const [submitting, setSubmitting] = useState(false);
  const password = useRef<string | undefined>(undefined);
  const timer = useRef<number | undefined>(undefined);
  const alive = useRef(true);

  const request = useCallback(
    async (pw: string | undefined): Promise<void> => {
      const body: PlaybackTokenRequest = pw === undefined ? {} : { password: pw };
      const t = await api<PlaybackToken>(playbackTokenPath(slug), { method: 'POST', body });
      if (!alive.current) return;
      password.current = pw;
      remember(slug, t.token, t.expires_in_secs);
      setToken(t.token);
      setGate({ kind: 'open' });
      window.clearTimeout(timer.current);
      // Renew before it runs out; the player picks the new token up on its next request.
      timer.current = window.setTimeout(() => {
        request(password.current).catch((e: unknown) => {
          if (!alive.current) return;
          if (e instanceof ApiError && (e.status === 0 || e.status >= 500)) {
            // The server is unreachable for now: try again soon, the current token may still do.
            timer.current = window.setTimeout(() => void request(password.current).catch(() => undefined), 5_000);
            return;
          }
          // The password changed, or the viewer unfollowed: back to the gate.
          setToken(null);
          setGate(gateForError(e));
        });
      }, renewDelayMs(t.expires_in_secs));
    },
    [slug],
  );

  useEffect(() => {
    alive.current = true;
    if (!needsToken) {
      setToken(null);
      setGate({ kind: 'open' });
      return;
    }
    setGate({ kind: 'checking' });
    // Signing in or out (`signedIn`) asks again: a follower's token comes with their bearer.
    // First without a password: unlisted channels, followers, the owner and moderators get
    // one; a password channel answers that it needs its password.
    request(undefined).catch((e: unknown) => {
      if (alive.current) setGate(gateForError(e));
    });
    return () => {
      alive.current = false;
      window.clearTimeout(timer.current);
    };
  }, [needsToken, request, signedIn, attempt]);

  const submit = useCallback(
    async (pw: string) => {
      setSubmitting(true);
      try {
        await request(pw);
      } catch (e) {
        if (alive.current) setGate(gateForError(e));
      } finally {
        if (alive.current) setSubmitting(false);
      }
    },
    [request],
  );

  return { needsToken, token, gate, submit, submitting };
}

/**
 * How a page may show a channel's files outside its player (video and clip thumbnails, a
 * clip's MP4): `open` with `token` (null for a public channel), `checking` while a token is
 * asked for, `locked` when the channel needs one the viewer does not have (a password channel
 * whose password they have not entered in this tab).
 */
export type MediaAccess = { state: 'open' | 'checking' | 'locked'; token: string | null };

export const PUBLIC_MEDIA: MediaAccess = { state: 'open', token: null };

/**
 * The token for a channel's files: one the server hands out without a password (unlisted,
 * followers, the owner, moderators), else one this tab already holds (the password was
 * entered on the channel's or a video's page).
 */
export function useMediaAccess(slug: string, visibility: Visibility | string | null, signedIn: boolean): MediaAccess {
  const access = usePlaybackToken(slug, visibility, signedIn);
  const kept = useSyncExternalStore(subscribeHeld, () => heldToken(slug));
  if (visibility == null) return { state: 'checking', token: null };
  if (!access.needsToken) return PUBLIC_MEDIA;
  const token = access.token ?? kept;
  if (token) return { state: 'open', token };
  return { state: access.gate.kind === 'checking' ? 'checking' : 'locked', token: null };
}
