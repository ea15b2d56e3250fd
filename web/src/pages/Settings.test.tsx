import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { ToastProvider } from '../components/Toasts';
import { Settings } from './Settings';

const me = { id: 7, username: 'ann', display_name: 'Ann', email: 'ann@example.com', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('settings forms', () => {
  let calls: { url: string; method: string }[];
  let patchReply: () => Response;
  beforeEach(() => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    calls = [];
    patchReply = () => json(me);
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        const method = init?.method ?? 'GET';
        calls.push({ url, method });
        if (url.endsWith('/notifications/settings')) return json({ email: true, muted: [] });
        if (url.includes('/follows') || url.includes('/following')) return json([]);
        if (method === 'PATCH') return patchReply();
        return json({});
      }),
    );
    render(
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
          <ToastProvider>
            <Settings />
          </ToastProvider>
        </MemoryRouter>
      </QueryClientProvider>,
    );
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    tokens.clear();
  });

  const profile = () => within(screen.getByRole('form', { name: 'Profile' }));

  it('marks every invalid profile field at once, without sending', async () => {
    const p = profile();
    await userEvent.clear(p.getByLabelText('Display name'));
    await userEvent.clear(p.getByLabelText('Email'));
    await userEvent.type(p.getByLabelText('Email'), 'ann@nowhere');
    await userEvent.click(p.getByRole('button', { name: 'Save profile' }));
    expect(p.getByText('1 to 64 characters')).toHaveAttribute('id', 'display_name-error');
    expect(p.getByText('not a valid email address')).toHaveAttribute('id', 'email-error');
    expect(p.getByLabelText('Display name')).toHaveAttribute('aria-describedby', 'display_name-error');
    expect(p.getByLabelText('Email')).toHaveAttribute('aria-invalid', 'true');
    expect(p.getByLabelText('Bio')).toHaveAttribute('aria-invalid', 'false');
    expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(0);
  });

  it('shows each field the server refuses next to that field', async () => {
    patchReply = () =>
      json(
        {
          error: 'invalid_field',
          message: 'control characters are not allowed',
          field: 'display_name',
          fields: [
            { field: 'display_name', message: 'control characters are not allowed' },
            { field: 'bio', message: '0 to 1000 characters' },
          ],
        },
        422,
      );
    const p = profile();
    await userEvent.click(p.getByRole('button', { name: 'Save profile' }));
    expect(await p.findByText('control characters are not allowed')).toHaveAttribute('id', 'display_name-error');
    expect(p.getByText('0 to 1000 characters')).toHaveAttribute('id', 'bio-error');
    expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(1);
  });

  it('checks both password fields before sending', async () => {
    const form = within(screen.getByRole('form', { name: 'Change password' }));
    await userEvent.type(form.getByLabelText('New password'), 'short');
    await userEvent.click(form.getByRole('button', { name: 'Change password' }));
    expect(form.getByText('enter your current password')).toHaveAttribute('id', 'current_password-error');
    expect(form.getByText('passwords are 8 to 128 characters')).toHaveAttribute('id', 'new_password-error');
    expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(0);
  });
});
