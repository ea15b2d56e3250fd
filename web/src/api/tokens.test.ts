import { TokenStore } from './tokens';
import type { AuthResponse } from './generated/AuthResponse';

const me = { id: 1, username: 'ann', display_name: 'ann', email: 'a@x', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const auth = (n: number): AuthResponse => ({
  user: me,
  access_token: `access-${n}`,
  token_type: 'Bearer',
  expires_in: 900,
  refresh_token: `refresh-${n}`,
});

function memoryStorage() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
}

function setup(respond: (body: { refresh_token: string }) => Response | Promise<Response>) {
  let now = 1_000_000;
  const calls: string[] = [];
  const storage = memoryStorage();
  const store = new TokenStore({
    fetch: async (url, init) => {
      calls.push(url);
      return respond(JSON.parse(String(init?.body)));
    },
    storage,
    now: () => now,
    exclusive: (fn) => fn(),
  });
  return { store, calls, storage, advance: (ms: number) => (now += ms) };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('token refresh', () => {
  it('hands out the access token while it is fresh, without asking the server', async () => {
    const t = setup(() => json(auth(2)));
    t.store.signIn(auth(1));
    expect(await t.store.access()).toBe('access-1');
    t.advance(800_000);
    expect(await t.store.access()).toBe('access-1');
    expect(t.calls).toEqual([]);
  });

  it('refreshes silently when the token is about to expire, once for concurrent callers', async () => {
    let n = 1;
    const seen: string[] = [];
    const t = setup((b) => {
      seen.push(b.refresh_token);
      n += 1;
      return json(auth(n));
    });
    t.store.signIn(auth(1));
    t.advance(880_000); // 20 s left
    const got = await Promise.all([t.store.access(), t.store.access(), t.store.access()]);
    expect(got).toEqual(['access-2', 'access-2', 'access-2']);
    // One refresh, with the refresh token of the time (they are single use).
    expect(seen).toEqual(['refresh-1']);
    expect(t.store.signedIn()).toBe(true);
    // The rotated refresh token is used next time.
    expect(await t.store.access({ force: true })).toBe('access-3');
    expect(seen).toEqual(['refresh-1', 'refresh-2']);
  });

  it('signs out when the refresh token is refused', async () => {
    const t = setup(() => json({ error: 'unauthorized', message: 'no' }, 401));
    const changes: boolean[] = [];
    t.store.subscribe(() => changes.push(t.store.signedIn()));
    t.store.signIn(auth(1));
    expect(await t.store.access({ force: true })).toBeNull();
    expect(t.store.signedIn()).toBe(false);
    expect(t.store.user()).toBeNull();
    expect(changes.at(-1)).toBe(false);
    expect(t.storage.getItem('streamhall.session')).toBeNull();
  });

  it('stays signed in when the network is down', async () => {
    const t = setup(() => {
      throw new TypeError('offline');
    });
    t.store.signIn(auth(1));
    expect(await t.store.access({ force: true })).toBeNull();
    expect(t.store.signedIn()).toBe(true);
  });

  it('adopts a token another tab refreshed instead of replaying the refresh token', async () => {
    const t = setup(() => json(auth(9)));
    t.store.signIn(auth(1));
    // Another tab rotated the pair and stored it.
    t.storage.setItem(
      'streamhall.session',
      JSON.stringify({ access: 'access-from-tab', accessExpiresAt: 1_000_000 + 900_000, refresh: 'refresh-from-tab', user: me }),
    );
    expect(await t.store.access({ force: true })).toBe('access-from-tab');
    expect(t.calls).toEqual([]);
  });
});
