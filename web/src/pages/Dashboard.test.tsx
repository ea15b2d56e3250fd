import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { ToastProvider } from '../components/Toasts';
import { Dashboard } from './Dashboard';

const me = { id: 7, username: 'ann', display_name: 'Ann', email: 'ann@example.com', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const channel = {
  id: 3,
  slug: 'anns-room',
  title: 'Evening music',
  description: '',
  category: 'Music',
  is_live: false,
  stream_status: 'offline',
  stream_problem: null,
  viewer_count: 0,
  live: null,
  thumbnail_url: '',
  owner: { id: 7, username: 'ann', display_name: 'Ann' },
  created_at: '2026-01-01T00:00:00Z',
  followers: 0,
};
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const invalid = (fields: { field: string; message: string }[]) =>
  json({ error: 'invalid_field', message: fields[0].message, field: fields[0].field, fields }, 422);

let calls: { url: string; method: string; body?: unknown }[];
let writeReply: () => Response;

function renderDashboard(channels: unknown[], path = '/dashboard') {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET';
      calls.push({ url, method, body: init?.body ? JSON.parse(String(init.body)) : undefined });
      if (method !== 'GET') return writeReply();
      if (url.endsWith('/users/me/channels')) return json(channels);
      if (url.includes('/webhooks')) return json([]);
      return json({});
    }),
  );
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <Dashboard />
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const writes = () => calls.filter((c) => c.method !== 'GET');

/** The field's error is drawn next to it, and the field says so to assistive technology. */
function expectError(input: HTMLElement, message: string) {
  const id = input.getAttribute('id')!;
  expect(screen.getByText(message, { selector: `#${id}-error` })).toBeInTheDocument();
  expect(input).toHaveAttribute('aria-invalid', 'true');
  expect(input).toHaveAttribute('aria-describedby', `${id}-error`);
}

beforeEach(() => {
  tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
  calls = [];
  writeReply = () => json({});
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  tokens.clear();
});

describe('create channel form', () => {
  const form = async () => within(await screen.findByRole('form', { name: 'Create your first channel' }));

  it('marks every invalid field at once without sending, and focuses the first', async () => {
    renderDashboard([]);
    const f = await form();
    await userEvent.type(f.getByLabelText('Address'), 'A!');
    await userEvent.type(f.getByLabelText('Category'), 'bad\u0007');
    await userEvent.click(f.getByRole('button', { name: 'Create channel' }));
    expectError(f.getByLabelText('Address'), '3 to 32 characters: a-z, 0-9, _ and -');
    expectError(f.getByLabelText('Stream title'), '1 to 140 characters');
    expectError(f.getByLabelText('Category'), 'control characters are not allowed');
    expect(f.getByLabelText('About')).toHaveAttribute('aria-invalid', 'false');
    expect(f.getByLabelText('About')).toHaveAttribute('aria-describedby', 'ch-description-hint');
    expect(writes()).toHaveLength(0);
    await vi.waitFor(() => expect(document.activeElement).toBe(f.getByLabelText('Address')));

    // Fixing the first two moves the focus to the one still wrong, and clears only theirs.
    await userEvent.clear(f.getByLabelText('Address'));
    await userEvent.type(f.getByLabelText('Address'), 'anns-room');
    await userEvent.type(f.getByLabelText('Stream title'), 'Evening music');
    await userEvent.click(f.getByRole('button', { name: 'Create channel' }));
    expect(f.getByLabelText('Address')).toHaveAttribute('aria-invalid', 'false');
    expect(f.getByLabelText('Address')).toHaveAttribute('aria-describedby', 'ch-slug-hint');
    expect(f.getByLabelText('Stream title')).toHaveAttribute('aria-invalid', 'false');
    expectError(f.getByLabelText('Category'), 'control characters are not allowed');
    await vi.waitFor(() => expect(document.activeElement).toBe(f.getByLabelText('Category')));
    expect(writes()).toHaveLength(0);
  });

  it('shows every field the server refuses next to it, the description too', async () => {
    writeReply = () =>
      invalid([
        { field: 'slug', message: 'that address is reserved' },
        { field: 'description', message: 'no links to unsafe sites' },
      ]);
    renderDashboard([]);
    const f = await form();
    await userEvent.type(f.getByLabelText('Address'), 'admin');
    await userEvent.type(f.getByLabelText('Stream title'), 'Hello');
    await userEvent.type(f.getByLabelText('About'), 'see http://bad.example');
    await userEvent.click(f.getByRole('button', { name: 'Create channel' }));
    expect(await f.findByText('that address is reserved')).toHaveAttribute('id', 'ch-slug-error');
    expectError(f.getByLabelText('About'), 'no links to unsafe sites');
    expect(f.getByLabelText('Stream title')).toHaveAttribute('aria-invalid', 'false');
    await vi.waitFor(() => expect(document.activeElement).toBe(f.getByLabelText('Address')));
    expect(writes()).toEqual([
      { url: '/api/v1/channels', method: 'POST', body: { slug: 'admin', title: 'Hello', description: 'see http://bad.example', category: '' } },
    ]);
  });

  it('puts errors that name no field of the form above it', async () => {
    writeReply = () => json({ error: 'conflict', message: 'you already have 5 channels' }, 409);
    renderDashboard([]);
    const f = await form();
    await userEvent.type(f.getByLabelText('Address'), 'anns-room');
    await userEvent.type(f.getByLabelText('Stream title'), 'Hello');
    await userEvent.click(f.getByRole('button', { name: 'Create channel' }));
    expect(await f.findByText('you already have 5 channels')).toHaveClass('form-error');
    expect(f.getByLabelText('Address')).toHaveAttribute('aria-invalid', 'false');
  });
});

describe('edit channel form', () => {
  const form = async () => within(await screen.findByRole('form', { name: 'Channel details' }));

  it('marks every invalid field at once without sending, and focuses the first', async () => {
    renderDashboard([channel], '/dashboard?channel=anns-room&tab=edit');
    const f = await form();
    await userEvent.clear(f.getByLabelText('Stream title'));
    await userEvent.type(f.getByLabelText('Stream title'), '   ');
    await userEvent.clear(f.getByLabelText('Category'));
    await userEvent.type(f.getByLabelText('Category'), 'Music\u0001');
    await userEvent.type(f.getByLabelText('About'), 'line\u0002');
    await userEvent.click(f.getByRole('button', { name: 'Save' }));
    expectError(f.getByLabelText('Stream title'), '1 to 140 characters');
    expectError(f.getByLabelText('Category'), 'control characters are not allowed');
    expectError(f.getByLabelText('About'), 'control characters are not allowed');
    await vi.waitFor(() => expect(document.activeElement).toBe(f.getByLabelText('Stream title')));
    expect(writes()).toHaveLength(0);
  });

  it('shows every field the server refuses next to it, category and description too', async () => {
    writeReply = () =>
      invalid([
        { field: 'category', message: 'not a known category' },
        { field: 'description', message: 'no links to unsafe sites' },
      ]);
    renderDashboard([channel], '/dashboard?channel=anns-room&tab=edit');
    const f = await form();
    await userEvent.click(f.getByRole('button', { name: 'Save' }));
    expect(await f.findByText('not a known category')).toHaveAttribute('id', 'edit-category-error');
    expectError(f.getByLabelText('Category'), 'not a known category');
    expectError(f.getByLabelText('About'), 'no links to unsafe sites');
    expect(f.getByLabelText('Stream title')).toHaveAttribute('aria-invalid', 'false');
    await vi.waitFor(() => expect(document.activeElement).toBe(f.getByLabelText('Category')));
    expect(writes()).toEqual([
      { url: '/api/v1/channels/anns-room', method: 'PATCH', body: { title: 'Evening music', category: 'Music', description: '' } },
    ]);
  });
});
