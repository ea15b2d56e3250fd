import '@testing-library/jest-dom/vitest';
import { cleanup, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { ReportButton } from './ReportDialog';

const me = { id: 7, username: 'bob', display_name: 'bob', email: 'b@x', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

function LoginProbe() {
  const state = useLocation().state as { from?: string } | null;
  return <p>login page, back to {state?.from}</p>;
}

function renderButton() {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <MemoryRouter initialEntries={['/v/abc']} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <Routes>
          <Route path="/v/:id" element={<ReportButton target={{ kind: 'video', target: 'abc', label: 'this video' }} />} />
          <Route path="/login" element={<LoginProbe />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('report button', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    tokens.clear();
  });

  it('sends signed-out visitors to log in', async () => {
    const fetchMock = vi.fn();
    vi.stubGlobal('fetch', fetchMock);
    renderButton();
    await userEvent.click(screen.getByRole('button', { name: 'Report this video' }));
    expect(await screen.findByText('login page, back to /v/abc')).toBeInTheDocument();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('asks for a reason, sends the report and thanks', async () => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    const fetchMock = vi.fn(async (_url: string, _init?: RequestInit) => json({ received: true, duplicate: false }, 201));
    vi.stubGlobal('fetch', fetchMock);
    renderButton();
    await userEvent.click(screen.getByRole('button', { name: 'Report this video' }));
    await userEvent.click(screen.getByRole('button', { name: 'Send report' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Choose a reason.');
    expect(fetchMock).not.toHaveBeenCalled();
    await userEvent.selectOptions(screen.getByLabelText('Reason'), 'violence');
    await userEvent.type(screen.getByLabelText(/What is wrong/), 'a fight');
    await userEvent.click(screen.getByRole('button', { name: 'Send report' }));
    expect(await screen.findByRole('heading', { name: "Thanks, we'll review it" })).toBeInTheDocument();
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe('/api/v1/reports');
    expect(JSON.parse(String(init?.body))).toEqual({ kind: 'video', target: 'abc', reason: 'violence', details: 'a fight' });
  });

  it('says when to try again after too many reports, keeping what was typed', async () => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => json({ error: 'rate_limited', message: 'slow down' }, 429, { 'retry-after': '300' })),
    );
    renderButton();
    await userEvent.click(screen.getByRole('button', { name: 'Report this video' }));
    await userEvent.selectOptions(screen.getByLabelText('Reason'), 'spam');
    await userEvent.type(screen.getByLabelText(/What is wrong/), 'ads');
    await userEvent.click(screen.getByRole('button', { name: 'Send report' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Try again in 5 min.');
    expect(screen.getByLabelText(/What is wrong/)).toHaveValue('ads');
  });
});
