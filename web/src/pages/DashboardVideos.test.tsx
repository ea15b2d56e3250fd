import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { ToastProvider } from '../components/Toasts';
import { Dashboard } from './Dashboard';
import { channel, json, video } from './videos.fixtures';

const me = { id: 7, username: 'ann', display_name: 'Ann', email: 'ann@example.com', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const v = video(1, { can_edit: true, title: 'Friday jam', chapters: [{ title: 'Intro', start: 0 }] });
let calls: { url: string; method: string; body?: unknown }[];
let writeReply: (url: string, method: string) => Response;

function renderVideos() {
  calls = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET';
      calls.push({ url, method, body: init?.body ? JSON.parse(String(init.body)) : undefined });
      if (method !== 'GET') return writeReply(url, method);
      if (url.endsWith('/users/me/channels')) return json([{ ...channel, record_vods: true, vod_retention_days: null }]);
      if (url.includes('/channels/anns-room/videos')) return json({ items: [v] });
      return json({});
    }),
  );
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={['/dashboard?channel=anns-room&tab=videos']} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <Dashboard />
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const writes = () => calls.filter((c) => c.method !== 'GET').map((c) => [c.method, c.url, c.body]);
const invalid = (field: string, message: string) => json({ error: 'invalid_field', message, field, fields: [{ field, message }] }, 422);

beforeEach(() => {
  tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
  writeReply = () => json(v);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  tokens.clear();
});

describe('dashboard videos', () => {
  it('saves recording and retention, and shows the server’s refusal next to the days', async () => {
    renderVideos();
    const form = within(await screen.findByRole('form', { name: 'Recording' }));
    expect(form.getByLabelText(/Record broadcasts/)).toBeChecked();
    expect(form.getByLabelText('Forever')).toBeChecked();
    await userEvent.click(form.getByLabelText(/For a number of days/));
    await userEvent.clear(form.getByLabelText('Days'));
    await userEvent.type(form.getByLabelText('Days'), '0');
    await userEvent.click(form.getByRole('button', { name: 'Save recording settings' }));
    expect(form.getByText('a whole number of days from 1 to 3650')).toHaveAttribute('id', 'rec-days-error');
    expect(writes()).toEqual([]);

    writeReply = () => invalid('vod_retention_days', 'at most 3650 days');
    await userEvent.clear(form.getByLabelText('Days'));
    await userEvent.type(form.getByLabelText('Days'), '90');
    await userEvent.click(form.getByLabelText(/Record broadcasts/));
    await userEvent.click(form.getByRole('button', { name: 'Save recording settings' }));
    expect(await form.findByText('at most 3650 days')).toHaveAttribute('id', 'rec-days-error');
    expect(form.getByLabelText('Days')).toHaveAttribute('aria-invalid', 'true');
    expect(writes()).toEqual([['PATCH', '/api/v1/channels/anns-room', { record_vods: false, vod_retention_days: 90 }]]);
  });

  it('renames a video, changes its visibility and shows errors next to the control', async () => {
    renderVideos();
    const row = within(await screen.findByRole('list', { name: 'Your videos' }));
    writeReply = () => invalid('title', 'that title is not allowed');
    await userEvent.clear(row.getByLabelText('Title'));
    await userEvent.type(row.getByLabelText('Title'), 'Friday jam, part 1');
    await userEvent.click(row.getByRole('button', { name: 'Save title' }));
    expect(await row.findByText('that title is not allowed')).toBeInTheDocument();
    expect(row.getByLabelText('Title')).toHaveAttribute('aria-invalid', 'true');

    writeReply = () => json({ ...v, visibility: 'private' });
    await userEvent.selectOptions(row.getByLabelText('Visibility'), 'private');
    await vi.waitFor(() => expect(writes()).toHaveLength(2));
    expect(writes()).toEqual([
      ['PATCH', `/api/v1/videos/${v.id}`, { title: 'Friday jam, part 1' }],
      ['PATCH', `/api/v1/videos/${v.id}`, { visibility: 'private' }],
    ]);
    expect(row.queryByText('that title is not allowed')).toBeNull();
  });

  it('edits chapters: each bad row marked, then the list sent in time order', async () => {
    renderVideos();
    const row = within(await screen.findByRole('list', { name: 'Your videos' }));
    await userEvent.click(row.getByText('Chapters (1)'));
    const form = within(row.getByRole('form', { name: 'Chapters of Friday jam' }));
    await userEvent.click(form.getByRole('button', { name: 'Add chapter' }));
    await userEvent.type(form.getByLabelText('Chapter 2 start'), '1:75');
    await userEvent.type(form.getByLabelText('Chapter 2 title'), 'Encore');
    await userEvent.click(form.getByRole('button', { name: 'Save chapters' }));
    expect(form.getByText('start as m:ss or h:mm:ss')).toBeInTheDocument();
    expect(form.getByLabelText('Chapter 2 start')).toHaveAttribute('aria-invalid', 'true');
    expect(writes()).toEqual([]);

    writeReply = () => invalid('chapters', 'chapter 1: the title must be 1 to 100 characters');
    await userEvent.clear(form.getByLabelText('Chapter 2 start'));
    await userEvent.type(form.getByLabelText('Chapter 2 start'), '1:05');
    await userEvent.click(form.getByRole('button', { name: 'Save chapters' }));
    expect(await form.findByText('the title must be 1 to 100 characters')).toHaveAttribute('id', `ch-${v.id}-0-error`);
    expect(writes()).toEqual([
      ['PUT', `/api/v1/videos/${v.id}/chapters`, { chapters: [{ title: 'Intro', start: 0 }, { title: 'Encore', start: 65 }] }],
    ]);
  });

  it('uploads a WebVTT file as subtitles', async () => {
    renderVideos();
    const row = within(await screen.findByRole('list', { name: 'Your videos' }));
    await userEvent.click(row.getByText('Subtitles (0)'));
    const form = within(row.getByRole('form', { name: 'Upload subtitles for Friday jam' }));
    await userEvent.upload(form.getByLabelText('WebVTT file'), new File(['not subtitles'], 'x.vtt', { type: 'text/vtt' }));
    await userEvent.type(form.getByLabelText('Language'), 'english');
    await userEvent.click(form.getByRole('button', { name: 'Upload subtitles' }));
    expect(await form.findByText('not a WebVTT file (it must start with WEBVTT)')).toBeInTheDocument();
    expect(form.getByText('a language code such as en or pt-BR')).toBeInTheDocument();
    expect(form.getByText('the name viewers pick, such as English')).toBeInTheDocument();

    const vtt = 'WEBVTT\n\n00:00.000 --> 00:02.000\nHello\n';
    await userEvent.upload(form.getByLabelText('WebVTT file'), new File([vtt], 'en.vtt', { type: 'text/vtt' }));
    await userEvent.clear(form.getByLabelText('Language'));
    await userEvent.type(form.getByLabelText('Language'), 'en');
    await userEvent.type(form.getByLabelText('Label'), 'English');
    await userEvent.click(form.getByRole('button', { name: 'Upload subtitles' }));
    await vi.waitFor(() => expect(writes()).toEqual([['PUT', `/api/v1/videos/${v.id}/subtitles/en`, { label: 'English', vtt }]]));
  });

  it('deletes a video after confirming', async () => {
    writeReply = () => new Response(null, { status: 204 });
    renderVideos();
    const row = within(await screen.findByRole('list', { name: 'Your videos' }));
    await userEvent.click(row.getByRole('button', { name: 'Delete…' }));
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete video' }));
    await vi.waitFor(() => expect(writes()).toEqual([['DELETE', `/api/v1/videos/${v.id}`, undefined]]));
  });
});
