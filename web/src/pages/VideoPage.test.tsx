import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { forgetHeldTokens } from '../api/playback';
import type { VideoDto } from '../api/generated/VideoDto';
import { ToastProvider } from '../components/Toasts';
import { ClipPage } from './ClipPage';
import { VideoPage, defaultClipRange } from './VideoPage';
import { channel, clip, json, video } from './videos.fixtures';

const me = { id: 9, username: 'bob', display_name: 'Bob', email: 'b@example.com', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
let calls: { url: string; method: string; body?: unknown }[];

function renderAt(path: string, get: (url: string) => Response, write: () => Response = () => json({})) {
  calls = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET';
      calls.push({ url, method, body: init?.body ? JSON.parse(String(init.body)) : undefined });
      return method === 'GET' ? get(url) : write();
    }),
  );
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <Routes>
            <Route path="/v/:id" element={<VideoPage />} />
            <Route path="/clip/:id" element={<ClipPage />} />
            <Route path="/c/:slug/clips" element={<p>clips of the channel</p>} />
          </Routes>
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const one = (v: VideoDto) => (url: string) => (url === `/api/v1/videos/${v.id}` ? json(v) : json({ error: 'not_found', message: 'no such thing' }, 404));

beforeEach(() => {
  // jsdom has no media playback.
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockImplementation(() => Promise.resolve());
  vi.spyOn(HTMLMediaElement.prototype, 'pause').mockImplementation(() => {});
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  tokens.clear();
  forgetHeldTokens();
});

describe('video page', () => {
  it('asks for the channel password before playing a video of a password-protected channel', async () => {
    const v = video(1, { title: 'Members jam' });
    const gated = { ...channel, visibility: 'password' };
    const replies = [
      json({ error: 'invalid_field', message: 'enter its password', field: 'password' }, 422),
      json({ token: '3.99.ab.cd', expires_at: '2030-01-01T00:00:00Z', expires_in_secs: 600 }),
    ];
    const withSubs = { ...v, subtitles: [{ lang: 'en', label: 'English', url: `http://public.example/vod/${v.id}/subs/en.vtt` }] };
    renderAt(
      `/v/${v.id}`,
      (url) => (url === '/api/v1/channels/anns-room' ? json(gated) : url.includes('/subs/') ? new Response('WEBVTT\n') : one(withSubs)(url)),
      () => replies.shift() ?? json({}, 500),
    );
    await userEvent.type(await screen.findByLabelText('Password'), 'sesame42');
    expect(document.querySelector('video')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Watch' }));
    await vi.waitFor(() => expect(document.querySelector('video')).not.toBeNull());
    // The subtitles are fetched with the token into a blob URL the track uses.
    await vi.waitFor(() => expect(calls.map((c) => c.url)).toContain(`/vod/${v.id}/subs/en.vtt?token=3.99.ab.cd`));
    expect(calls.filter((c) => c.method === 'POST')).toEqual([
      { url: '/api/v1/channels/anns-room/playback-token', method: 'POST', body: {} },
      { url: '/api/v1/channels/anns-room/playback-token', method: 'POST', body: { password: 'sesame42' } },
    ]);
  });

  it('plays a ready video: player, title, channel link, views, chapters that seek', async () => {
    const v = video(1, {
      title: 'Friday jam',
      description: 'Songs from the week.',
      view_count: 1234,
      chapters: [
        { title: 'Second set', start: 60 },
        { title: 'Warm-up', start: 0 },
      ],
    });
    renderAt(`/v/${v.id}`, one(v));
    expect(await screen.findByRole('heading', { name: 'Friday jam' })).toBeInTheDocument();
    // The player once the channel is known (a public one needs no token).
    expect(await screen.findByRole('region', { name: 'Video player: Friday jam' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Ann' })).toHaveAttribute('href', '/c/anns-room');
    expect(screen.getByText('1.2K views')).toBeInTheDocument();
    expect(screen.getByText('Songs from the week.')).toBeInTheDocument();
    expect(screen.getByTestId('vod-duration')).toHaveTextContent('1:35');
    const chapters = within(screen.getByRole('region', { name: 'Chapters' })).getAllByRole('button');
    expect(chapters.map((b) => b.textContent)).toEqual(['0:00 Warm-up', '1:00 Second set']);
    await userEvent.click(chapters[1]);
    expect(document.querySelector('video')!.currentTime).toBe(60);
    // Signed out: no clip action.
    expect(screen.queryByTestId('clip-open')).toBeNull();
  });

  it('says a video is being processed, without a player', async () => {
    const v = video(2, { status: 'processing' });
    renderAt(`/v/${v.id}`, one(v));
    expect(await screen.findByText('The video will be ready soon')).toBeInTheDocument();
    expect(screen.getByText(/starts playing it by itself/)).toBeInTheDocument();
    expect(document.querySelector('video')).toBeNull();
  });

  it('says a video is still being recorded and links to the live channel', async () => {
    const v = video(3, { status: 'recording' });
    renderAt(`/v/${v.id}`, one(v));
    expect(await screen.findByText('This broadcast is still live')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Watch Ann live' })).toHaveAttribute('href', '/c/anns-room');
  });

  it('shows no player for a failed video', async () => {
    const v = video(4, { status: 'failed' });
    renderAt(`/v/${v.id}`, one(v));
    expect(await screen.findByRole('alert')).toHaveTextContent('This video cannot be played');
    expect(document.querySelector('video')).toBeNull();
  });

  it('says a missing or private video does not exist', async () => {
    renderAt('/v/ffffffffffffffffffffffffffffffff', () => json({ error: 'not_found', message: 'no such video' }, 404));
    expect(await screen.findByRole('heading', { name: 'This video does not exist' })).toBeInTheDocument();
  });

  it('says a suspended owner’s video or clip is unavailable, with nothing to retry', async () => {
    const message = "this channel is unavailable: its owner's account is suspended";
    renderAt('/v/ffffffffffffffffffffffffffffffff', () => json({ error: 'channel_suspended', message }, 410));
    expect(await screen.findByRole('heading', { name: 'This video is unavailable' })).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent(message);
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
    cleanup();
    renderAt(`/clip/${clip(1).id}`, () => json({ error: 'channel_suspended', message }, 410));
    expect(await screen.findByRole('heading', { name: 'This clip is unavailable' })).toBeInTheDocument();
    expect(screen.getByRole('alert')).toHaveTextContent(message);
  });

  it('lets a signed-in viewer clip a range of the video, with the server’s errors next to the field', async () => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    const v = video(5);
    let reply = () => json({ error: 'invalid_field', message: 'the clip ends after the video', field: 'end', fields: [{ field: 'end', message: 'the clip ends after the video' }] }, 422);
    renderAt(`/v/${v.id}`, one(v), () => reply());
    await userEvent.click(await screen.findByTestId('clip-open'));
    const form = within(screen.getByRole('form', { name: 'Make a clip' }));
    expect(form.getByLabelText('From')).toHaveValue('0:00');
    expect(form.getByLabelText('To')).toHaveValue('0:30');
    await userEvent.click(form.getByRole('button', { name: 'Create clip' }));
    expect(await form.findByText('the clip ends after the video')).toHaveAttribute('id', 'clip-end-error');

    // Checked in the browser first: a clip longer than a minute is not sent.
    await userEvent.clear(form.getByLabelText('To'));
    await userEvent.type(form.getByLabelText('To'), '1:30');
    await userEvent.click(form.getByRole('button', { name: 'Create clip' }));
    expect(form.getByText('a clip is 5 to 60 seconds long')).toBeInTheDocument();

    reply = () => json(clip(1, { status: 'processing', video_id: v.id }), 202);
    await userEvent.clear(form.getByLabelText('To'));
    await userEvent.type(form.getByLabelText('To'), '0:20');
    await userEvent.type(form.getByLabelText('Title (optional)'), 'Best bit');
    await userEvent.click(form.getByRole('button', { name: 'Create clip' }));
    expect(await screen.findByRole('link', { name: 'open the clip' })).toHaveAttribute('href', `/clip/${clip(1).id}`);
    expect(calls.filter((c) => c.method === 'POST').map((c) => [c.url, c.body])).toEqual([
      [`/api/v1/videos/${v.id}/clips`, { start: 0, end: 30 }],
      [`/api/v1/videos/${v.id}/clips`, { start: 0, end: 20, title: 'Best bit' }],
    ]);
  });

  it('centres the default clip on the position, inside the video', () => {
    expect(defaultClipRange(100, 600)).toEqual({ start: 85, end: 115 });
    expect(defaultClipRange(5, 600)).toEqual({ start: 0, end: 30 });
    expect(defaultClipRange(598, 600)).toEqual({ start: 570, end: 600 });
    expect(defaultClipRange(6, 12.4)).toEqual({ start: 0, end: 12 });
  });
});

describe('clip page', () => {
  it('shows progress while the clip is cut, then plays its MP4', async () => {
    const c = clip(1, { title: 'Big moment' });
    let status: 'processing' | 'ready' = 'processing';
    renderAt(`/clip/${c.id}`, () => json({ ...c, status }));
    expect(await screen.findByText('Making the clip…')).toBeInTheDocument();
    expect(document.querySelector('video')).toBeNull();
    status = 'ready';
    const player = await screen.findByTestId('clip-video', {}, { timeout: 3000 });
    expect(player).toHaveAttribute('src', `/clips/${c.id}/clip.mp4`);
    expect(screen.getByRole('heading', { name: 'Big moment' })).toBeInTheDocument();
    expect(screen.getByText('Clipped by Bob')).toBeInTheDocument();
    expect(screen.getByTestId('clip-duration')).toHaveTextContent('0:30');
    expect(screen.queryByRole('button', { name: /Delete/ })).toBeNull();
  });

  it('asks for the channel password before playing a clip of a password-protected channel', async () => {
    const c = clip(4, { title: 'Members moment' });
    const replies = [
      json({ error: 'invalid_field', message: 'enter its password', field: 'password' }, 422),
      json({ token: '3.99.ab.cd', expires_at: '2030-01-01T00:00:00Z', expires_in_secs: 600 }),
    ];
    renderAt(`/clip/${c.id}`, (url) => (url === '/api/v1/channels/anns-room' ? json({ ...channel, visibility: 'password' }) : json(c)), () => replies.shift() ?? json({}, 500));
    await userEvent.type(await screen.findByLabelText('Password'), 'sesame42');
    expect(screen.queryByTestId('clip-video')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Watch' }));
    expect(await screen.findByTestId('clip-video')).toHaveAttribute('src', `/clips/${c.id}/clip.mp4?token=3.99.ab.cd`);
  });

  it('says why a clip failed', async () => {
    const c = clip(2, { status: 'failed', error: 'The broadcast had no video in that range.' });
    renderAt(`/clip/${c.id}`, () => json(c));
    expect(await screen.findByRole('alert')).toHaveTextContent('The broadcast had no video in that range.');
  });

  it('deletes a clip for those who may', async () => {
    const c = clip(3, { can_delete: true });
    renderAt(`/clip/${c.id}`, () => json(c), () => new Response(null, { status: 204 }));
    await userEvent.click(await screen.findByRole('button', { name: 'Delete clip…' }));
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete' }));
    // Back to the channel's clips once it is gone.
    expect(await screen.findByText('clips of the channel')).toBeInTheDocument();
    expect(calls.filter((x) => x.method === 'DELETE').map((x) => x.url)).toEqual([`/api/v1/clips/${c.id}`]);
  });
});

describe('taken down', () => {
  it('shows a viewer the notice in place of the video', async () => {
    renderAt('/v/abc', () => json({ error: 'taken_down', message: 'Taken down after DMCA notice 7' }, 410));
    expect(await screen.findByRole('heading', { name: 'Taken down after DMCA notice 7' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
    expect(document.querySelector('video')).toBeNull();
  });

  it('shows the owner the notice, no player, and where to counter', async () => {
    const v = video(1, { can_edit: true, takedown: { at: '2026-12-07T00:00:00Z', notice: 'Taken down after DMCA notice 7', dmca_notice_id: 7 } });
    renderAt(`/v/${v.id}`, (url) => (url === '/api/v1/channels/anns-room' ? json(channel) : one(v)(url)));
    expect(await screen.findByRole('heading', { name: 'Taken down after DMCA notice 7' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Read the notice or file a counter-notice' })).toHaveAttribute('href', '/dmca/notices/7');
    expect(document.querySelector('video')).toBeNull();
  });
});
