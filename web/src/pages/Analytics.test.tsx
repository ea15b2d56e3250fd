import '@testing-library/jest-dom/vitest';
import { cleanup, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import type { BroadcastSummary } from '../api/generated/BroadcastSummary';
import { tokens } from '../api/tokens';
import Analytics from './Analytics';

const me = { id: 7, username: 'ann', display_name: 'ann', email: 'a@x', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });
const T = Date.parse('2026-11-25T20:00:00Z');
const summary: BroadcastSummary = {
  broadcast_id: 4,
  title: 'Friday speedruns',
  started_at: new Date(T).toISOString(),
  ended_at: new Date(T + 3600e3).toISOString(),
  duration_s: 3600,
  peak_viewers: 31,
  avg_viewers: 12.5,
  unique_viewers: 80,
  watch_time_s: 45000,
  avg_watch_s: 562,
  chat_messages: 420,
  chatters: 25,
  new_followers: 4,
};
const samples = Array.from({ length: 60 }, (_, i) => ({
  at: new Date(T + i * 60e3).toISOString(),
  broadcast_id: 4,
  viewers: 10 + (i % 5),
  chatters: 3,
  chat_messages: 7,
}));

function renderAt(url: string) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={[url]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <Routes>
          <Route path="/dashboard/:slug/analytics" element={<Analytics />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('analytics page', () => {
  beforeEach(() => tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' }));
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    tokens.clear();
  });

  it('says when there is no data yet', async () => {
    const fetchMock = vi.fn(async (_url: string) =>
      json({ from: new Date(T - 86400e3).toISOString(), to: new Date(T).toISOString(), samples: [], broadcasts: [], followers_total: 3, new_followers: 0 }),
    );
    vi.stubGlobal('fetch', fetchMock);
    renderAt('/dashboard/ann/analytics?range=24h');
    expect(await screen.findByText('No data for this range yet')).toBeInTheDocument();
    const url = new URL(fetchMock.mock.calls[0][0], 'http://x');
    expect(url.pathname).toBe('/api/v1/channels/ann/analytics');
    const span = Date.parse(url.searchParams.get('to')!) - Date.parse(url.searchParams.get('from')!);
    expect(span).toBe(86400e3);
    expect(screen.getByRole('button', { name: 'Last 24 hours' })).toHaveAttribute('aria-pressed', 'true');
  });

  it('draws the charts with text alternatives, and a table row opens the broadcast', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) =>
        url.startsWith('/api/v1/broadcasts/4/analytics')
          ? json({ summary, samples })
          : json({ from: new Date(T - 7 * 86400e3).toISOString(), to: new Date(T + 7200e3).toISOString(), samples, broadcasts: [summary], followers_total: 9, new_followers: 4 }),
      ),
    );
    renderAt('/dashboard/ann/analytics');
    const chart = await screen.findByRole('group', { name: /^Viewers\. Average viewers per 1 h/ });
    expect(chart).toHaveAccessibleName(expect.stringMatching(/peak 14/));
    chart.focus();
    await userEvent.keyboard('{End}');
    expect(screen.getAllByText(/Viewers 1[0-4]/).length).toBeGreaterThan(0);
    await userEvent.click(screen.getByRole('button', { name: 'Friday speedruns' }));
    expect(await screen.findByRole('heading', { name: 'Friday speedruns' })).toBeInTheDocument();
    expect(screen.getByText('← All broadcasts')).toBeInTheDocument();
    // One-minute samples over an hour: drawn as they are, one point a minute.
    expect(await screen.findByRole('group', { name: /^Viewers\. Average viewers per 1 min/ })).toBeInTheDocument();
  });
});
