import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import type { ChannelDto } from '../api/generated/ChannelDto';
import type { ChannelPage } from '../api/generated/ChannelPage';
import { Home } from './Home';

const channel = (id: number, slug: string, is_live: boolean, category: string, display_name: string): ChannelDto => ({
  id,
  slug,
  title: `${slug} show`,
  description: '',
  category,
  is_live,
  stream_status: is_live ? 'live' : 'offline',
  stream_problem: null,
  viewer_count: is_live ? 3 : 0,
  live: is_live ? { broadcast_id: 1, started_at: new Date(Date.now() - 600_000).toISOString(), playback_url: '', dvr_url: null, low_latency_url: null, renditions: [] } : null,
  thumbnail_url: '',
  owner: { id, username: `user${id}`, display_name },
  created_at: '2026-01-01T00:00:00Z',
  followers: 0,
  record_vods: true,
  vod_retention_days: null,
  visibility: 'public',
});

describe('home search', () => {
  let urls: string[];
  beforeEach(() => {
    urls = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        urls.push(url);
        const q = new URL(url, 'http://x').searchParams;
        let page: ChannelPage;
        if (q.get('q') === 'ada') {
          const items = [channel(2, 'notes', true, 'Music', 'Ada Lovelace'), channel(1, 'engines', false, 'Science', 'Ada Lovelace')];
          page = {
            items: q.get('category') ? items.filter((c) => c.category === q.get('category')) : items,
            next_offset: null,
            categories: [
              { name: 'Music', channels: 1, live: 1 },
              { name: 'Science', channels: 1, live: 0 },
            ],
          };
        } else {
          page = { items: [channel(2, 'notes', true, 'Music', 'Ada Lovelace')], next_offset: null, categories: [{ name: 'Music', channels: 1, live: 1 }] };
        }
        return new Response(JSON.stringify(page), { status: 200, headers: { 'content-type': 'application/json' } });
      }),
    );
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  const renderAt = (path: string) =>
    render(
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
          <Routes>
            <Route path="/" element={<Home />} />
          </Routes>
        </MemoryRouter>
      </QueryClientProvider>,
    );

  it('finds offline channels too, marked, with chips only for categories that have results', async () => {
    renderAt('/?q=ada');
    const results = await screen.findByRole('list', { name: 'Search results' });
    const cards = within(results).getAllByRole('link');
    expect(cards.map((c) => c.getAttribute('aria-label'))).toEqual([
      'notes show by Ada Lovelace, live for 10 minutes, 3 viewers',
      'engines show by Ada Lovelace, offline',
    ]);
    expect(within(cards[1]).getByText('Offline')).toBeInTheDocument();
    expect(within(cards[0]).getByText('Live for 10 minutes')).toBeInTheDocument();
    // A search asks for every channel, not only live ones.
    expect(urls.some((u) => u.includes('q=ada') && !u.includes('live=true'))).toBe(true);
    const chips = within(screen.getByRole('group', { name: 'Categories' })).getAllByRole('button');
    expect(chips.map((c) => c.textContent)).toEqual(['All', 'Music', 'Science']);

    await userEvent.click(screen.getByRole('button', { name: 'Science' }));
    expect(await screen.findByRole('link', { name: 'engines show by Ada Lovelace, offline' })).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: /notes show/ })).toBeNull();
    // The other categories of the search stay on offer.
    expect(screen.getByRole('button', { name: 'Music' })).toHaveAttribute('aria-pressed', 'false');
    expect(screen.getByRole('button', { name: 'Science' })).toHaveAttribute('aria-pressed', 'true');
  });

  it('browsing lists live channels and offers only the categories of live ones', async () => {
    renderAt('/');
    expect(await screen.findByRole('list', { name: 'Live channels' })).toBeInTheDocument();
    expect(urls.every((u) => u.includes('live=true'))).toBe(true);
    const chips = within(screen.getByRole('group', { name: 'Categories' })).getAllByRole('button');
    expect(chips.map((c) => c.textContent)).toEqual(['All', 'Music']);
  });
});
