import '@testing-library/jest-dom/vitest';
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import type { NotificationDto } from '../api/generated/NotificationDto';
import { tokens } from '../api/tokens';
import { ToastProvider } from '../components/Toasts';
import { Bell } from './Bell';
import { NotificationsProvider, backoff, notifySocketUrl } from './NotificationsProvider';

/** A WebSocket stand-in the test drives: what the app sent, and server frames on demand. */
class FakeSocket {
  static all: FakeSocket[] = [];
  static OPEN = 1;
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    act(() => {
      this.readyState = 1;
      this.onopen?.();
    });
  }
  frame(m: unknown) {
    act(() => this.onmessage?.({ data: JSON.stringify(m) }));
  }
  drop() {
    act(() => {
      this.readyState = 3;
      this.onclose?.();
    });
  }
}

const me = { id: 7, username: 'bob', display_name: 'bob', email: 'b@x', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const n = (id: number, read = false): NotificationDto => ({
  id,
  kind: 'stream_online',
  channel_slug: 'alice',
  channel_title: 'Alice',
  streamer_name: 'Alice Liddell',
  title: 'Speedrun night',
  broadcast_id: 1,
  created_at: new Date().toISOString(),
  read,
});
const json = (body: unknown, status = 200) => new Response(status === 204 ? null : JSON.stringify(body), { status });

function renderBell() {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={['/']} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <NotificationsProvider>
            <Routes>
              <Route path="/" element={<Bell />} />
              <Route path="/c/:slug" element={<p>watch page</p>} />
            </Routes>
          </NotificationsProvider>
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('notifications socket and bell', () => {
  let calls: { url: string; method: string }[];
  beforeEach(() => {
    FakeSocket.all = [];
    calls = [];
    vi.stubGlobal('WebSocket', FakeSocket);
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        calls.push({ url, method: init?.method ?? 'GET' });
        if (url.startsWith('/api/v1/notifications?')) return json({ items: [n(1, true)], unread: 0, next_before: null });
        return json(undefined, 204);
      }),
    );
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    tokens.clear();
  });

  it('opens no socket while signed out', () => {
    renderBell();
    expect(FakeSocket.all).toHaveLength(0);
  });

  it('authenticates in the first frame, counts live notifications, toasts them once, and marks read on click', async () => {
    tokens.signIn({ user: me, access_token: 'tok-1', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    renderBell();
    await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    const s = FakeSocket.all[0];
    expect(s.url).toBe('ws://localhost:3000/api/v1/notifications/ws');
    expect(s.url).not.toContain('tok-1');
    s.open();
    expect(s.sent[0]).toEqual({ type: 'auth', token: 'tok-1' });
    s.frame({ type: 'ready', unread: 0 });
    await waitFor(() => expect(calls.some((c) => c.url === '/api/v1/notifications?limit=20')).toBe(true));
    expect(screen.getByRole('button', { name: 'Notifications, 0 unread' })).toBeInTheDocument();

    s.frame({ type: 'notification', notification: n(2), unread: 1 });
    s.frame({ type: 'notification', notification: n(2), unread: 1 });
    expect(screen.getByRole('button', { name: 'Notifications, 1 unread' })).toBeInTheDocument();
    expect(screen.getAllByText('Alice Liddell went live')).toHaveLength(1); // the toast, once, by display name

    await userEvent.click(screen.getByRole('button', { name: 'Notifications, 1 unread' }));
    const panel = screen.getByRole('dialog', { name: 'Notifications' });
    expect(panel).toBeInTheDocument();
    const links = screen.getAllByRole('link', { name: /Alice Liddell went live/ });
    expect(links).toHaveLength(2);
    await userEvent.click(links[0]);
    expect(await screen.findByText('watch page')).toBeInTheDocument();
    expect(calls).toContainEqual({ url: '/api/v1/notifications/2/read', method: 'PUT' });
  });

  it('reconnects with a fresh token after the server refused one', async () => {
    let n = 0;
    const refresh = vi.fn(async () => json({ user: me, access_token: `fresh-${++n}`, token_type: 'Bearer', expires_in: 900, refresh_token: `r${n}` }));
    vi.stubGlobal('fetch', vi.fn(async (url: string) => (url === '/api/v1/auth/refresh' ? refresh() : json({ items: [], unread: 0, next_before: null }))));
    tokens.signIn({ user: me, access_token: 'stale', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    renderBell();
    await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    FakeSocket.all[0].open();
    FakeSocket.all[0].frame({ type: 'error', code: 'invalid_token', message: 'token expired' });
    FakeSocket.all[0].drop();
    await waitFor(() => expect(FakeSocket.all).toHaveLength(2), { timeout: 3000 });
    FakeSocket.all[1].open();
    expect(FakeSocket.all[1].sent[0]).toEqual({ type: 'auth', token: 'fresh-1' });
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it('builds the URL and backs off', () => {
    expect(notifySocketUrl({ protocol: 'https:', host: 'tv.example' })).toBe('wss://tv.example/api/v1/notifications/ws');
    expect(backoff(1, 0.5)).toBe(1000);
    expect(backoff(10, 0.5)).toBe(15_000);
  });
});
