import { cleanup, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { NoSocket, renderWatch } from './watch.fixtures';
import { channel, json } from './videos.fixtures';

type Xhr = { open: (method: string, url: string, async: boolean) => void };
const players: { src: string; xhrSetup: (xhr: Xhr, url: string) => void }[] = [];
vi.mock('hls.js', () => {
  class FakeHls {
    static isSupported = () => true;
    static Events = { MANIFEST_PARSED: 'manifestParsed', LEVEL_SWITCHED: 'levelSwitched', ERROR: 'error' };
    static ErrorTypes = { MEDIA_ERROR: 'mediaError', NETWORK_ERROR: 'networkError' };
    config: { xhrSetup: (xhr: Xhr, url: string) => void };
    constructor(config: { xhrSetup: (xhr: Xhr, url: string) => void }) {
      this.config = config;
    }
    on() {}
    loadSource(src: string) {
      players.push({ src, xhrSetup: this.config.xhrSetup });
    }
    attachMedia() {}
    destroy() {}
  }
  return { default: FakeHls };
});


const gated = {
  ...channel,
  visibility: 'password',
  is_live: true,
  stream_status: 'live',
  live: { broadcast_id: 1, started_at: new Date().toISOString(), playback_url: 'http://x/hls/anns-room/master.m3u8', renditions: [], dvr_url: null, low_latency_url: null },
};
let tries: (string | undefined)[];

function renderGated() {
  tries = [];
  NoSocket.urls = [];
  vi.stubGlobal('WebSocket', NoSocket);
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      if (url === '/api/v1/channels/anns-room/playback-token') {
        const password = (JSON.parse(String(init?.body ?? '{}')) as { password?: string }).password;
        tries.push(password);
        if (password === undefined) return json({ error: 'invalid_field', message: 'enter its password', field: 'password' }, 422);
        if (password !== 'sesame42') return json({ error: 'wrong_password', message: 'no' }, 403);
        return json({ token: '7.99.ab.cd', expires_at: '2030-01-01T00:00:00Z', expires_in_secs: 600 });
      }
      if (url === '/api/v1/channels/anns-room') return json(gated);
      return json([]);
    }),
  );
  renderWatch();
}

beforeEach(() => {
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockImplementation(() => Promise.resolve());
});
afterEach(() => {
  players.length = 0;
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('a password-protected channel', () => {
  it('asks for the password, refuses a wrong one, then plays with the token on every request', async () => {
    renderGated();
    const input = await screen.findByLabelText('Password');
    expect(screen.getByText('Ann’s stream needs a password')).toBeInTheDocument();
    expect(players).toEqual([]);
    expect(NoSocket.urls).toEqual([]);
    expect(screen.getByText('The chat opens once you can watch.')).toBeInTheDocument();

    await userEvent.type(input, 'guess');
    await userEvent.click(screen.getByRole('button', { name: 'Watch' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('That password is not right.');
    expect(players).toEqual([]);

    await userEvent.clear(screen.getByLabelText('Password'));
    await userEvent.type(screen.getByLabelText('Password'), 'sesame42');
    await userEvent.click(screen.getByRole('button', { name: 'Watch' }));
    await vi.waitFor(() => expect(players.map((p) => p.src)).toEqual(['/hls/anns-room/master.m3u8']));
    expect(tries).toEqual([undefined, 'guess', 'sesame42']);

    // hls.js requests carry the token (replacing an older one the playlist listed).
    const opened: string[] = [];
    players[0].xhrSetup({ open: (_m, url) => opened.push(url) }, 'http://x/hls/anns-room/480p/seg-5.ts?token=old');
    expect(opened[0]).toMatch(/seg-5\.ts\?token=7\.99\.ab\.cd&vid=[0-9a-f]{24}$/);
    // The chat socket too.
    await vi.waitFor(() => expect(NoSocket.urls.some((u) => u.includes('token=7.99.ab.cd'))).toBe(true));
  });
});
