import '@testing-library/jest-dom/vitest';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { WebhookDto } from '../api/generated/WebhookDto';
import { tokens } from '../api/tokens';
import { ToastProvider } from '../components/Toasts';
import Webhooks, { deliveryTone } from './Webhooks';

const me = { id: 7, username: 'ann', display_name: 'ann', email: 'a@x', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const json = (body: unknown, status = 200) => new Response(status === 204 || status === 202 ? null : JSON.stringify(body), { status });
const hook = (id: number, url: string): WebhookDto => ({ id, url, events: ['stream.online'], created_at: '2026-11-25T00:00:00Z', last_delivery: null });

describe('webhooks panel', () => {
  let hooks: WebhookDto[];
  let calls: { url: string; method: string; body?: unknown }[];
  beforeEach(() => {
    tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
    hooks = [hook(1, 'https://one.example/hook')];
    calls = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        const method = init?.method ?? 'GET';
        calls.push({ url, method, body: init?.body ? JSON.parse(String(init.body)) : undefined });
        if (method === 'POST' && url.endsWith('/webhooks')) {
          const created = hook(2, 'https://two.example/hook');
          hooks = [...hooks, created];
          return json({ webhook: created, secret: 'whsec_123' }, 201);
        }
        if (method === 'DELETE') {
          hooks = hooks.filter((h) => !url.endsWith(`/${h.id}`));
          return json(undefined, 204);
        }
        if (url.endsWith('/ping')) return json(undefined, 202);
        return json(hooks);
      }),
    );
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    tokens.clear();
  });

  const renderPanel = () =>
    render(
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <ToastProvider>
          <Webhooks slug="ann" />
        </ToastProvider>
      </QueryClientProvider>,
    );

  it('adds a webhook with the chosen events and shows its secret once', async () => {
    renderPanel();
    await screen.findByText('https://one.example/hook');
    await userEvent.click(screen.getByRole('button', { name: 'Add webhook' }));
    expect(await screen.findByText('Enter an http:// or https:// URL')).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Payload URL'), 'https://two.example/hook');
    await userEvent.click(screen.getByLabelText('Stream ended (stream.offline)'));
    await userEvent.click(screen.getByRole('button', { name: 'Add webhook' }));
    expect(await screen.findByLabelText('Signing secret')).toHaveValue('whsec_123');
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ url: 'https://two.example/hook', events: ['stream.online'] });
    await screen.findByText('https://two.example/hook');
    await userEvent.click(screen.getByRole('button', { name: 'I have saved it' }));
    expect(screen.queryByLabelText('Signing secret')).toBeNull();
  });

  it('sends a test event, and deletes only after confirming', async () => {
    renderPanel();
    await userEvent.click(await screen.findByRole('button', { name: 'Send a test event to https://one.example/hook' }));
    expect(await screen.findByText(/Test event queued/)).toBeInTheDocument();
    expect(calls).toContainEqual({ url: '/api/v1/channels/ann/webhooks/1/ping', method: 'POST', body: undefined });
    await userEvent.click(screen.getByRole('button', { name: 'Delete the webhook https://one.example/hook' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete this webhook?' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    await userEvent.click(screen.getByRole('button', { name: 'Delete the webhook https://one.example/hook' }));
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete webhook' }));
    await waitFor(() => expect(screen.queryByText('https://one.example/hook')).toBeNull());
    expect(await screen.findByText('No webhook yet.')).toBeInTheDocument();
  });

  it('colours delivery states', () => {
    expect(deliveryTone('delivered')).toBe('ok');
    expect(deliveryTone('failed')).toBe('bad');
    expect(deliveryTone('pending')).toBe('warn');
    expect(deliveryTone('something')).toBeUndefined();
  });
});
