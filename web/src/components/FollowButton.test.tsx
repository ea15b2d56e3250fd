import '@testing-library/jest-dom/vitest';
import { cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { FollowButton, followView } from './FollowButton';
import { ToastProvider } from './Toasts';

const me = { id: 7, username: 'bob', display_name: 'bob', email: 'b@x', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function LoginProbe() {
  const state = useLocation().state as { from?: string } | null;
  return <p>login page, back to {state?.from}</p>;
}

function renderButton(ownerId = 1) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={['/c/alice']} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <Routes>
            <Route path="/c/:slug" element={<FollowButton slug="alice" name="Alice" ownerId={ownerId} followers={12} />} />
            <Route path="/login" element={<LoginProbe />} />
          </Routes>
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('follow button', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    tokens.clear();
  });

  it('maps states to actions', () => {
    expect(followView(false, undefined, false)).toEqual({ action: 'login', text: 'Follow', busy: false });
    expect(followView(true, undefined, false)).toEqual({ action: 'none', text: 'Follow', busy: true });
    expect(followView(true, { following: false, followed_at: null, followers: 1 }, false).action).toBe('follow');
    expect(followView(true, { following: true, followed_at: '2026-01-01T00:00:00Z', followers: 1 }, true)).toEqual({
      action: 'unfollow',
      text: 'Following',
      busy: true,
    });
  });

  it('sends signed-out visitors to log in, with the way back', async () => {
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    renderButton();
    expect(screen.getByTestId('follower-count')).toHaveTextContent('12 followers');
    await userEvent.click(screen.getByRole('button', { name: 'Follow Alice' }));
    expect(await screen.findByText('login page, back to /c/alice')).toBeInTheDocument();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('follows, then unfollows, with the count following along', async () => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    let following = false;
    let followers = 12;
    const fetchMock = vi.fn(async (url: string, init?: RequestInit) => {
      expect(url).toBe('/api/v1/channels/alice/follow');
      expect((init?.headers as Record<string, string>).authorization).toBe('Bearer a');
      if (init?.method === 'POST') (following = true), (followers += 1);
      if (init?.method === 'DELETE') (following = false), (followers -= 1);
      return json({ following, followed_at: following ? '2026-11-26T00:00:00Z' : null, followers });
    });
    vi.stubGlobal('fetch', fetchMock);
    renderButton();
    const follow = await screen.findByRole('button', { name: 'Follow Alice' });
    await waitFor(() => expect(follow).toBeEnabled());
    await userEvent.click(follow);
    const unfollow = await screen.findByRole('button', { name: 'Unfollow Alice' });
    expect(unfollow).toHaveTextContent('Following');
    expect(screen.getByTestId('follower-count')).toHaveTextContent('13 followers');
    expect(await screen.findByText(/Following Alice/)).toBeInTheDocument();
    await userEvent.click(unfollow);
    await screen.findByRole('button', { name: 'Follow Alice' });
    await waitFor(() => expect(screen.getByTestId('follower-count')).toHaveTextContent('12 followers'));
    expect(fetchMock.mock.calls.map(([, i]) => (i as RequestInit | undefined)?.method ?? 'GET')).toEqual(['GET', 'POST', 'DELETE']);
  });

  it('puts the count back and says why when following fails', async () => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    vi.stubGlobal(
      'fetch',
      vi.fn(async (_url: string, init?: RequestInit) =>
        init?.method === 'POST' ? json({ error: 'rate_limited', message: 'slow down' }, 429) : json({ following: false, followed_at: null, followers: 5 }),
      ),
    );
    renderButton();
    const follow = await screen.findByRole('button', { name: 'Follow Alice' });
    await waitFor(() => expect(screen.getByTestId('follower-count')).toHaveTextContent('5 followers'));
    await userEvent.click(follow);
    expect(await screen.findByText('slow down')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Follow Alice' })).toBeEnabled();
    expect(screen.getByTestId('follower-count')).toHaveTextContent('5 followers');
  });

  it('shows the owner the count only', () => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    vi.stubGlobal('fetch', vi.fn());
    renderButton(7);
    expect(screen.queryByRole('button')).toBeNull();
    expect(screen.getByTestId('follower-count')).toHaveTextContent('12 followers');
  });
});
