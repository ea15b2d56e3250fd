import { cleanup, render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { ToastProvider } from '../components/Toasts';
import { ResetPassword, VerifyEmail } from './Account';

function Where() {
  const l = useLocation();
  return <output data-testid="where">{l.pathname + l.search}</output>;
}

function renderAt(path: string) {
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <Routes>
            <Route path="/reset" element={<ResetPassword />} />
            <Route path="/verify-email" element={<VerifyEmail />} />
          </Routes>
          <Where />
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe('emailed link pages', () => {
  let calls: { url: string; method: string; body?: string }[];
  let reply: () => Response;
  beforeEach(() => {
    calls = [];
    reply = () => new Response(null, { status: 204 });
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        calls.push({ url, method: init?.method ?? 'GET', body: init?.body as string | undefined });
        return reply();
      }),
    );
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    tokens.clear();
  });

  it('reset: drops the token from the address and sends it only in a POST body', async () => {
    renderAt('/reset?token=pr_0123456789abcdef');
    await waitFor(() => expect(screen.getByTestId('where')).toHaveTextContent(/^\/reset$/));
    await userEvent.type(screen.getByLabelText('New password'), 'a new password');
    await userEvent.type(screen.getByLabelText('New password again'), 'a new password');
    await userEvent.click(screen.getByRole('button', { name: 'Set the password' }));
    await screen.findByText(/Your password is changed/);
    expect(calls).toHaveLength(1);
    expect(calls[0].method).toBe('POST');
    expect(calls[0].url).toBe('/api/v1/auth/password-reset/confirm');
    expect(JSON.parse(calls[0].body!)).toEqual({ token: 'pr_0123456789abcdef', new_password: 'a new password' });
    expect(calls.some((c) => c.url.includes('token='))).toBe(false);
  });

  it('reset: checks the repeated password before sending, and shows an expired link', async () => {
    reply = () =>
      new Response(JSON.stringify({ error: 'invalid_field', message: 'this link is invalid, already used or expired; ask for a new one', field: 'token' }), { status: 422 });
    renderAt('/reset?token=pr_0123456789abcdef');
    await userEvent.type(screen.getByLabelText('New password'), 'a new password');
    await userEvent.type(screen.getByLabelText('New password again'), 'another one!');
    await userEvent.click(screen.getByRole('button', { name: 'Set the password' }));
    expect(screen.getByText('the passwords differ')).toBeInTheDocument();
    expect(calls).toHaveLength(0);
    await userEvent.clear(screen.getByLabelText('New password again'));
    await userEvent.type(screen.getByLabelText('New password again'), 'a new password');
    await userEvent.click(screen.getByRole('button', { name: 'Set the password' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/expired/);
  });

  it('verify-email: posts the token once and says it is done', async () => {
    renderAt('/verify-email?token=ve_0123456789abcdef');
    await screen.findByText(/Your email address is confirmed/);
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/verify-email$/);
    expect(calls).toEqual([{ url: '/api/v1/auth/verify-email', method: 'POST', body: JSON.stringify({ token: 've_0123456789abcdef' }) }]);
  });
});
