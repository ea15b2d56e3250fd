import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { forgetHeldTokens } from '../api/playback';
import { ToastProvider } from '../components/Toasts';
import { Watch } from './Watch';
import { channel, clip, json, video } from './videos.fixtures';

let urls: string[];
let auths: (string | null)[];

function renderAt(path: string, reply: (url: URL) => Response) {
  urls = [];
  auths = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      urls.push(url);
      auths.push(new Headers(init?.headers).get('authorization'));
      return reply(new URL(url, 'http://x'));
    }),
  );
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <Routes>
            <Route path="/c/:slug" element={<Watch />} />
            <Route path="/c/:slug/videos" element={<Watch tab="videos" />} />
            <Route path="/c/:slug/clips" element={<Watch tab="clips" />} />
          </Routes>
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  tokens.clear();
  forgetHeldTokens();
});

describe('channel videos tab', () => {
  it('shows a lock, not a broken image, for a password channel without its token', async () => {
    renderAt('/c/anns-room/videos', (u) => {
      if (u.pathname === '/api/v1/channels/anns-room') return json({ ...channel, visibility: 'password' });
      if (u.pathname === '/api/v1/channels/anns-room/playback-token') return json({ error: 'invalid_field', message: 'enter its password', field: 'password' }, 422);
      if (u.pathname === '/api/v1/channels/anns-room/videos') return json({ items: [video(1)] });
      return json({}, 404);
    });
    const list = await screen.findByRole('list', { name: 'Videos' });
    expect(await within(list).findByTestId('thumb-locked')).toBeInTheDocument();
    expect(list.querySelector('img')).toBeNull();
    expect(screen.getByTestId('media-locked')).toHaveTextContent(/password/);
  });

  it('shows the thumbnails of a followers channel with the token a follower gets', async () => {
    renderAt('/c/anns-room/clips', (u) => {
      if (u.pathname === '/api/v1/channels/anns-room') return json({ ...channel, visibility: 'followers' });
      if (u.pathname === '/api/v1/channels/anns-room/playback-token') return json({ token: '3.99.ab.cd', expires_at: '2030-01-01T00:00:00Z', expires_in_secs: 600 });
      if (u.pathname === '/api/v1/channels/anns-room/clips') return json({ items: [clip(1, { thumbnail_url: `http://public.example/clips/${clip(1).id}/thumb.jpg` })] });
      return json({}, 404);
    });
    const list = await screen.findByRole('list', { name: 'Clips' });
    await vi.waitFor(() => expect(list.querySelector('img')).toHaveAttribute('src', `/clips/${clip(1).id}/thumb.jpg?token=3.99.ab.cd`));
    expect(within(list).queryByTestId('thumb-locked')).toBeNull();
  });

  it('lists videos newest first with duration, views and date, and loads more pages', async () => {
    renderAt('/c/anns-room/videos', (u) => {
      if (u.pathname === '/api/v1/channels/anns-room') return json(channel);
      if (u.pathname === '/api/v1/channels/anns-room/videos') {
        return u.searchParams.get('offset') === '0'
          ? json({ items: [video(1), video(2, { status: 'processing' })], next_offset: 2 })
          : json({ items: [video(3, { duration_secs: 3725 })] });
      }
      return json({}, 404);
    });
    const list = await screen.findByRole('list', { name: 'Videos' });
    const cards = within(list).getAllByRole('link');
    expect(cards.map((c) => c.getAttribute('aria-label'))).toEqual(['Broadcast 1, 1:35, 1 view, 1 h ago', 'Broadcast 2, processing, 2 views, 2 h ago']);
    expect(cards[0]).toHaveAttribute('href', `/v/${video(1).id}`);
    // Thumbnails from this origin, whatever public URL the API names.
    expect(cards[0].querySelector('img')).toHaveAttribute('src', `/vod/${video(1).id}/thumb.jpg`);
    expect(within(cards[1]).getByText('Processing')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Videos' })).toHaveAttribute('aria-current', 'page');

    await userEvent.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await within(list).findByRole('link', { name: /^Broadcast 3, 1:02:05/ })).toBeInTheDocument();
    expect(within(list).getAllByRole('link')).toHaveLength(3);
    // The last page has no next_offset: no more button.
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
    expect(urls.filter((x) => x.includes('/videos?'))).toEqual([
      '/api/v1/channels/anns-room/videos?limit=24&offset=0',
      '/api/v1/channels/anns-room/videos?limit=24&offset=2',
    ]);
  });

  it('says when the channel has no videos', async () => {
    renderAt('/c/anns-room/videos', (u) => (u.pathname === '/api/v1/channels/anns-room' ? json(channel) : json({ items: [] })));
    expect(await screen.findByText(/Ann has no videos yet/)).toBeInTheDocument();
  });

  it('lists clips on the clips tab', async () => {
    renderAt('/c/anns-room/clips', (u) => {
      if (u.pathname === '/api/v1/channels/anns-room') return json(channel);
      if (u.pathname === '/api/v1/channels/anns-room/clips') return json({ items: [clip(1), clip(2, { status: 'processing' })] });
      return json({}, 404);
    });
    const list = await screen.findByRole('list', { name: 'Clips' });
    expect(within(list).getAllByRole('link').map((c) => c.getAttribute('aria-label'))).toEqual([
      'Clip 1, clipped by Bob, 0:30, 0 views',
      'Clip 2, clipped by Bob, processing, 0 views',
    ]);
    expect(screen.getByRole('link', { name: 'Clips' })).toHaveAttribute('aria-current', 'page');
  });

  it('shows a private video’s thumbnail to its owner from a blob fetched with the access token', async () => {
    const me = { id: 7, username: 'ann', display_name: 'Ann', email: 'a@example.com', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
    tokens.signIn({ user: me, access_token: 'tok', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    // jsdom makes no blob URLs (and this file's environment is its own).
    URL.createObjectURL = () => 'blob:thumb';
    URL.revokeObjectURL = () => {};
    const secret = video(4, { visibility: 'private' });
    renderAt('/c/anns-room/videos', (u) => {
      if (u.pathname === '/api/v1/channels/anns-room') return json(channel);
      if (u.pathname === '/api/v1/channels/anns-room/videos') return json({ items: [secret] });
      return new Response('jpeg');
    });
    const card = await screen.findByRole('link', { name: /^Broadcast 4/ });
    expect(within(card).getByText('Private')).toBeInTheDocument();
    await vi.waitFor(() => expect(card.querySelector('img')).toHaveAttribute('src', 'blob:thumb'));
    expect(auths[urls.indexOf(`/vod/${secret.id}/thumb.jpg`)]).toBe('Bearer tok');
  });
});
