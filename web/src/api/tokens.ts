// The signed-in session: a short-lived access token and a single-use refresh token.
//
// Access tokens live 15 minutes; `access()` hands out the current one and refreshes it
// silently when it is about to expire (or when the server said 401). Refresh tokens rotate
// and a replayed one revokes the whole sign-in, so exactly one refresh may be in flight:
// within a tab by sharing the promise, across tabs with a Web Lock, after which a tab first
// looks whether another tab already refreshed (the session is kept in localStorage).
import type { AuthResponse } from './generated/AuthResponse';
import type { Me } from './generated/Me';

export type Session = {
  access: string;
  /** ms since the epoch */
  accessExpiresAt: number;
  refresh: string;
  user: Me;
};

type Deps = {
  fetch: (input: string, init?: RequestInit) => Promise<Response>;
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
  now: () => number;
  /** Runs `fn` holding a lock shared by every tab (Web Locks), or just runs it. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
};

const KEY = 'streamhall.session';
/** Refresh this long before the access token expires. */
const MARGIN_MS = 30_000;

export class TokenStore {
  private session: Session | null;
  private inflight: Promise<string | null> | null = null;
  private listeners = new Set<() => void>();

  constructor(private deps: Deps) {
    this.session = this.load();
  }

  signedIn(): boolean {
    return this.session !== null;
  }

  user(): Me | null {
    return this.session?.user ?? null;
  }

  /** Calls `fn` whenever the session changes (sign-in, refresh, sign-out, another tab). */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Stores what register, login or refresh returned. */
  signIn(auth: AuthResponse): void {
    this.session = {
      access: auth.access_token,
      accessExpiresAt: this.deps.now() + auth.expires_in * 1000,
      refresh: auth.refresh_token,
      user: auth.user,
    };
    this.save();
  }

  setUser(user: Me): void {
    if (!this.session) return;
    this.session = { ...this.session, user };
    this.save();
  }

  clear(): void {
    this.session = null;
    this.save();
  }

  /** Another tab changed the session. */
  reload(): void {
    this.session = this.load();
    this.emit();
  }

  /**
   * A valid access token, refreshed first when it expires within 30 s (or always with
   * `force`, after a 401); `null` when signed out or the refresh failed.
   */
  async access(opts: { force?: boolean } = {}): Promise<string | null> {
    const s = this.session;
    if (!s) return null;
    if (!opts.force && s.accessExpiresAt - this.deps.now() > MARGIN_MS) return s.access;
    if (!this.inflight) {
      const stale = s.access;
      this.inflight = this.deps
        .exclusive(() => this.refresh(stale))
        .finally(() => {
          this.inflight = null;
        });
    }
    return this.inflight;
  }

  /** Revokes the refresh token on the server (best effort) and forgets the session. */
  async logout(): Promise<void> {
    const s = this.session;
    this.clear();
    if (!s) return;
    try {
      await this.deps.fetch('/api/v1/auth/logout', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: s.refresh }),
      });
    } catch {
      // Signed out locally either way.
    }
  }

  private async refresh(stale: string): Promise<string | null> {
    // Another tab may have refreshed while we waited for the lock.
    const stored = this.load();
    if (!stored) {
      this.session = null;
      this.emit();
      return null;
    }
    if (stored.access !== stale && stored.accessExpiresAt - this.deps.now() > MARGIN_MS) {
      this.session = stored;
      this.emit();
      return stored.access;
    }
    let res: Response;
    try {
      res = await this.deps.fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: stored.refresh }),
      });
    } catch {
      // Offline: keep the session and try again on the next request.
      return null;
    }
    if (res.ok) {
      this.signIn((await res.json()) as AuthResponse);
      return this.session?.access ?? null;
    }
    if (res.status === 401 || res.status === 400 || res.status === 422 || res.status === 403) {
      // Expired, revoked, replayed, or the account suspended: the sign-in is over.
      this.clear();
    }
    return null;
  }

  private load(): Session | null {
    try {
      const raw = this.deps.storage?.getItem(KEY);
      return raw ? (JSON.parse(raw) as Session) : null;
    } catch {
      return null;
    }
  }

  private save(): void {
    try {
      if (this.session) this.deps.storage?.setItem(KEY, JSON.stringify(this.session));
      else this.deps.storage?.removeItem(KEY);
    } catch {
      // Private mode without storage: the session lasts as long as the tab.
    }
    this.emit();
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}

function browserDeps(): Deps {
  const hasWindow = typeof window !== 'undefined';
  return {
    fetch: (input, init) => fetch(input, init),
    storage: hasWindow ? window.localStorage : null,
    now: () => Date.now(),
    exclusive: (fn) =>
      typeof navigator !== 'undefined' && navigator.locks
        ? (navigator.locks.request('streamhall-refresh', fn) as Promise<Awaited<ReturnType<typeof fn>>>)
        : fn(),
  };
}

export const tokens = new TokenStore(browserDeps());

if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (e.key === KEY) tokens.reload();
  });
}

export const SESSION_KEY = KEY;
