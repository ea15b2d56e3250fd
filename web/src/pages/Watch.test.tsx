import { cleanup, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { tokens } from '../api/tokens';
import { NoSocket, renderWatch } from './watch.fixtures';
import { channel, clip, json } from './videos.fixtures';

const loaded: string[] = [];
vi.mock('hls.js', () => {
  class FakeHls {
    static isSupported = () => true;
    static Events = { MANIFEST_PARSED: 'manifestParsed', LEVEL_SWITCHED: 'levelSwitched', ERROR: 'error' };
    static ErrorTypes = { MEDIA_ERROR: 'mediaError', NETWORK_ERROR: 'networkError' };
    config = { liveMaxLatencyDurationCount: 5 };
    on() {}
    loadSource(src: string) {
      loaded.push(src);
    }
    attachMedia() {}
    destroy() {}
  }
  return { default: FakeHls };
});


const me = { id: 9, username: 'bob', display_name: 'Bob', email: 'b@example.com', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const live = (dvr: string | null) => ({
  ...channel,
  is_live: true,
  stream_status: 'live',
  viewer_count: 2,
  live: { broadcast_id: 1, started_at: new Date().toISOString(), playback_url: 'http://public.example/hls/anns-room/master.m3u8', renditions: [], dvr_url: dvr, low_latency_url: null },
});
let posts: { url: string; body: unknown }[];

function renderLive(c: unknown) {
  posts = [];
  vi.stubGlobal('WebSocket', NoSocket);
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      if (init?.method === 'POST') {
        posts.push({ url, body: init.body ? JSON.parse(String(init.body)) : undefined });
        return url.endsWith('/clips') ? json(clip(7, { status: 'processing' }), 202) : json({ ticket: 't' });
      }
      if (url === '/api/v1/channels/anns-room') return json(c);
      return json([]);
    }),
  );
  renderWatch();
}

beforeEach(() => {
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockImplementation(() => Promise.resolve());
});
afterEach(() => {
  loaded.length = 0;
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  tokens.clear();
});

describe('live page', () => {
  it('plays the DVR master when the broadcast has one, and clips the last 30 s with a link to the clip', async () => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    renderLive(live('http://public.example/hls/anns-room/dvr.m3u8'));
    await userEvent.click(await screen.findByRole('button', { name: 'Clip the last 30 seconds' }));
    expect(await screen.findByRole('link', { name: 'Open the clip' })).toHaveAttribute('href', `/clip/${clip(7).id}`);
    expect(posts.filter((p) => p.url.endsWith('/clips'))).toEqual([{ url: '/api/v1/channels/anns-room/clips', body: { seconds: 30 } }]);
    expect(loaded).toEqual(['/hls/anns-room/dvr.m3u8']);
    // The tabs lead to the channel's videos and clips.
    expect(screen.getByRole('link', { name: 'Videos' })).toHaveAttribute('href', '/c/anns-room/videos');
  });

  it('plays low latency when offered, and "Normal latency" switches to the DVR master and is remembered', async () => {
    const c = live('http://public.example/hls/anns-room/dvr.m3u8');
    renderLive({ ...c, live: { ...c.live, low_latency_url: 'http://public.example/hls/anns-room/ll.m3u8' } });
    await vi.waitFor(() => expect(loaded).toEqual(['/hls/anns-room/ll.m3u8']));
    await userEvent.click(screen.getByRole('button', { name: 'Low latency' }));
    await vi.waitFor(() => expect(loaded).toEqual(['/hls/anns-room/ll.m3u8', '/hls/anns-room/dvr.m3u8']));
    expect(screen.getByRole('button', { name: 'Normal latency' })).toHaveAttribute('aria-pressed', 'false');
    expect(localStorage.getItem('streamhall.latency')).toBe('normal');
    localStorage.removeItem('streamhall.latency');
  });

  it('plays the live master without a DVR, and offers no clip button to visitors', async () => {
    renderLive(live(null));
    await vi.waitFor(() => expect(loaded).toEqual(['/hls/anns-room/master.m3u8']));
    expect(screen.getByRole('button', { name: /^(Play|Pause)$/ })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Clip the last 30 seconds' })).toBeNull();
  });
});
