import { act, cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import { tokens } from '../api/tokens';
import { srtPublishUrl, type ChannelIngest, type RestreamDto } from '../api/ingestSettings';
import { ToastProvider } from '../components/Toasts';
import { Dashboard } from './Dashboard';

const me = { id: 7, username: 'ann', display_name: 'Ann', email: 'ann@example.com', bio: '', role: 'user', created_at: '2026-01-01T00:00:00Z' };
const offline = {
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
const live = { ...offline, is_live: true, stream_status: 'live', live: { started_at: '2026-01-01T00:00:00Z' } };

const pushIngest: ChannelIngest = {
  srt_passphrase_set: false,
  source: 'push',
  pull_url: null,
  pull_has_credentials: false,
  pull_transport: 'tcp',
  pull_always_on: true,
  pull_state: null,
};

const dest = (id: number, patch: Partial<RestreamDto> = {}): RestreamDto => ({
  id,
  name: `Dest ${id}`,
  url: `rtmp://ingest${id}.example/live`,
  enabled: true,
  state: 'idle',
  last_error: null,
  ...patch,
});

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const SECRET_KEY = 'live_sk_9f8e7d6c5b4a';

let calls: { url: string; method: string; body?: unknown }[];
let ingest: ChannelIngest;
let restreams: RestreamDto[];
/** The answer to a write; by default what the server would send. */
let writeReply: ((c: { url: string; method: string; body?: unknown }) => Response) | null;

function renderDashboard(channel: unknown = offline) {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET';
      const call = { url, method, body: init?.body ? JSON.parse(String(init.body)) : undefined };
      calls.push(call);
      if (method !== 'GET' && writeReply) return writeReply(call);
      if (url === '/api/v1/server') return json({ rtmp_url: 'rtmp://media.example:1935/live', srt_url: 'srt://media.example:9000' });
      if (url.endsWith('/users/me/channels')) return json([channel]);
      if (url.endsWith('/health')) return json({ error: 'not_found', message: 'not on this node' }, 404);
      if (url.endsWith('/stream-key') && method === 'POST') return json({ stream_key: SECRET_KEY });
      if (url.endsWith('/ingest')) {
        if (method === 'PUT') ingest = { ...ingest, ...(call.body as object), srt_passphrase_set: ingest.srt_passphrase_set } as ChannelIngest;
        return json(ingest);
      }
      if (url.endsWith('/restreams') && method === 'POST') {
        const b = call.body as { name: string; url: string };
        const d = dest(restreams.length + 10, { name: b.name, url: b.url });
        restreams = [...restreams, d];
        return json(d, 201);
      }
      if (url.endsWith('/restreams')) return json(restreams);
      return json({});
    }),
  );
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <MemoryRouter initialEntries={['/dashboard?channel=anns-room&tab=stream']} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <ToastProvider>
          <Dashboard />
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const writes = () => calls.filter((c) => c.method !== 'GET');
const gets = (suffix: string) => calls.filter((c) => c.method === 'GET' && c.url.endsWith(suffix));
const sourceForm = async () => within(await screen.findByRole('form', { name: 'Stream source' }));
const restreamCard = async () => within(await screen.findByRole('region', { name: 'Restream' }));

/** Nothing on the page shows `secret`: not in its text, attributes, or any field's value. */
function expectNowhere(secret: string) {
  expect(document.body.innerHTML).not.toContain(secret);
  for (const el of document.querySelectorAll('input, textarea')) expect((el as HTMLInputElement).value).not.toContain(secret);
}

beforeEach(() => {
  tokens.signIn({ user: me, access_token: 'a', token_type: 'Bearer', expires_in: 900, refresh_token: 'r' });
  calls = [];
  ingest = { ...pushIngest };
  restreams = [];
  writeReply = null;
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
  tokens.clear();
});

describe('SRT URL', () => {
  it('puts the stream id after the server’s SRT address, raw', () => {
    expect(srtPublishUrl('srt://media.example:9000', 'abc_123')).toBe('srt://media.example:9000?streamid=#!::r=live/abc_123,m=publish');
  });

  it('is masked on the stream tab, and shown whole with a copy button once the key is rotated', async () => {
    renderDashboard();
    const masked = await screen.findByLabelText('SRT URL');
    await vi.waitFor(() => expect(masked).toHaveValue('srt://media.example:9000?streamid=#!::r=live/••••••••,m=publish'));
    expect(masked).toHaveAttribute('readonly');
    expect(screen.queryByRole('button', { name: 'Copy SRT URL' })).toBeNull();

    await userEvent.click(screen.getByRole('button', { name: 'Rotate key…' }));
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Rotate key' }));
    const reveal = within(await screen.findByRole('region', { name: 'Your stream key' }));
    expect(reveal.getByLabelText('Stream Key')).toHaveValue(SECRET_KEY);
    expect(reveal.getByLabelText('SRT URL')).toHaveValue(`srt://media.example:9000?streamid=#!::r=live/${SECRET_KEY},m=publish`);
    expect(reveal.getByRole('button', { name: 'Copy SRT URL' })).toBeInTheDocument();
    // The stream tab's copy stays masked while the key is on show above it.
    expect(masked).toHaveValue('srt://media.example:9000?streamid=#!::r=live/••••••••,m=publish');

    await userEvent.click(reveal.getByRole('button', { name: 'I have saved it' }));
    expectNowhere(SECRET_KEY);
  });

  it('tells the streamer to add the passphrase when SRT is encrypted, without showing one', async () => {
    ingest = { ...pushIngest, srt_passphrase_set: true };
    renderDashboard();
    expect(await screen.findByTestId('srt-passphrase-hint')).toHaveTextContent('Encrypted SRT is on: add &passphrase= and your passphrase to the end of the URL');
    expect(screen.getByTestId('srt-encryption')).toHaveTextContent('Encrypted SRT is on');
  });

  it('says nothing of a passphrase when none is set', async () => {
    renderDashboard();
    await screen.findByTestId('srt-encryption');
    expect(screen.queryByTestId('srt-passphrase-hint')).toBeNull();
  });
});

describe('Source & SRT card', () => {
  it('sends the pull settings the streamer chose, and shows the server’s refusal next to the URL', async () => {
    writeReply = () =>
      json({ error: 'invalid_field', message: 'the host does not resolve', field: 'pull_url', fields: [{ field: 'pull_url', message: 'the host does not resolve' }] }, 422);
    renderDashboard();
    const f = await sourceForm();
    await userEvent.click(f.getByLabelText(/Pull from an IP camera/));
    await userEvent.type(f.getByLabelText('Camera URL'), 'rtsp://cam.example:554/stream1');
    await userEvent.type(f.getByLabelText('User name'), 'viewer');
    await userEvent.type(f.getByLabelText('Password'), 'hunter22');
    await userEvent.click(f.getByLabelText(/^UDP/));
    await userEvent.click(f.getByLabelText(/Only while someone watches/));
    await userEvent.click(f.getByRole('button', { name: 'Save source' }));

    const url = f.getByLabelText('Camera URL');
    expect(await f.findByText('the host does not resolve')).toHaveAttribute('id', 'ingest-pull_url-error');
    expect(url).toHaveAttribute('aria-invalid', 'true');
    expect(url).toHaveAttribute('aria-describedby', 'ingest-pull_url-error');
    await vi.waitFor(() => expect(document.activeElement).toBe(url));
    expect(writes()).toEqual([
      {
        url: '/api/v1/channels/anns-room/ingest',
        method: 'PUT',
        body: { source: 'pull', pull_url: 'rtsp://cam.example:554/stream1', pull_transport: 'udp', pull_always_on: false, pull_username: 'viewer', pull_password: 'hunter22' },
      },
    ]);
  });

  it('puts an error that names no field above the form', async () => {
    writeReply = () => json({ error: 'forbidden', message: 'only the channel owner can change this' }, 403);
    ingest = { ...pushIngest, source: 'pull', pull_url: 'rtsp://cam.example/s', pull_state: { state: 'live', last_error: null } };
    renderDashboard();
    const f = await sourceForm();
    await userEvent.click(f.getByRole('button', { name: 'Save source' }));
    expect(await f.findByText('only the channel owner can change this')).toHaveClass('form-error');
    // Blank login fields keep the stored login: they are not sent.
    expect(writes()[0].body).toEqual({ source: 'pull', pull_url: 'rtsp://cam.example/s', pull_transport: 'tcp', pull_always_on: true });
  });

  it('refuses a camera URL with a login in it, or that is not rtsp://, without sending', async () => {
    renderDashboard();
    const f = await sourceForm();
    await userEvent.click(f.getByLabelText(/Pull from an IP camera/));
    await userEvent.type(f.getByLabelText('Camera URL'), 'rtsp://admin:pw@cam.example/s');
    await userEvent.click(f.getByRole('button', { name: 'Save source' }));
    expect(await f.findByText("put the camera's user name and password in their own fields, not in the URL")).toHaveAttribute('id', 'ingest-pull_url-error');
    await userEvent.clear(f.getByLabelText('Camera URL'));
    await userEvent.type(f.getByLabelText('Camera URL'), 'http://cam.example/s');
    await userEvent.click(f.getByRole('button', { name: 'Save source' }));
    expect(await f.findByText(/the URL must start with rtsp:\/\//)).toBeInTheDocument();
    expect(writes()).toHaveLength(0);
  });

  it('shows the pull state with its last error, a saved login as saved, and clears it', async () => {
    ingest = {
      ...pushIngest,
      source: 'pull',
      pull_url: 'rtsp://cam.example/s',
      pull_has_credentials: true,
      pull_state: { state: 'retrying', last_error: 'RTSP 401 Unauthorized' },
    };
    renderDashboard();
    const f = await sourceForm();
    expect(f.getByTestId('pull-state')).toHaveTextContent('Lost the camera: retrying');
    expect(f.getByTestId('pull-state')).toHaveTextContent('Last error: RTSP 401 Unauthorized');
    expect(f.getByTestId('pull-login-saved')).toHaveTextContent('Saved');
    expect(f.getByLabelText('Password')).toHaveValue('');
    // No passphrase form for a pulled channel; a banner on the OBS card says encoders are refused.
    expect(screen.queryByRole('form', { name: 'SRT encryption' })).toBeNull();
    expect(screen.getByRole('note')).toHaveTextContent('encoders are refused');

    await userEvent.click(f.getByRole('button', { name: 'Clear login…' }));
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Clear login' }));
    await vi.waitFor(() => expect(writes()).toEqual([{ url: '/api/v1/channels/anns-room/ingest', method: 'PUT', body: { pull_username: '', pull_password: '' } }]));
  });

  it('says why a held pull is stopped', async () => {
    ingest = {
      ...pushIngest,
      source: 'pull',
      pull_url: 'rtsp://cam.example/s',
      pull_state: { state: 'held', last_error: "held: the owner's email address is not verified" },
    };
    renderDashboard();
    const f = await sourceForm();
    expect(f.getByTestId('pull-state')).toHaveTextContent('Stopped: your account may not stream now');
    expect(f.getByTestId('pull-state')).toHaveTextContent("Why: held: the owner's email address is not verified");
  });

  it('checks the SRT passphrase length before sending, then sets it and turns it off', async () => {
    renderDashboard();
    const p = within(await screen.findByRole('form', { name: 'SRT encryption' }));
    await userEvent.type(p.getByLabelText('SRT passphrase'), 'short');
    await userEvent.click(p.getByRole('button', { name: 'Set passphrase' }));
    expect(p.getByText('the SRT passphrase must be 10 to 79 characters')).toHaveAttribute('id', 'ingest-srt_passphrase-error');
    expect(writes()).toHaveLength(0);

    writeReply = (c) => json({ ...ingest, srt_passphrase_set: (c.body as { srt_passphrase: string | null }).srt_passphrase !== null });
    await userEvent.type(p.getByLabelText('SRT passphrase'), '-long-enough');
    await userEvent.click(p.getByRole('button', { name: 'Set passphrase' }));
    await vi.waitFor(() => expect(p.getByTestId('srt-encryption')).toHaveTextContent('Encrypted SRT is on'));
    expect(p.getByLabelText('New SRT passphrase')).toHaveValue('');
    expectNowhere('short-long-enough');

    await userEvent.click(p.getByRole('button', { name: 'Turn encryption off…' }));
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Turn off' }));
    await vi.waitFor(() => expect(p.getByTestId('srt-encryption')).toHaveTextContent('Off'));
    expect(writes().map((w) => w.body)).toEqual([{ srt_passphrase: 'short-long-enough' }, { srt_passphrase: null }]);
  });
});

describe('Restream card', () => {
  it('shows each destination’s state, and the error of a failed one', async () => {
    restreams = [
      dest(1, { name: 'YouTube', state: 'live' }),
      dest(2, { name: 'Twitch', state: 'failed', last_error: 'connection refused by live.twitch.tv' }),
      dest(3, { name: 'Kick', enabled: false }),
    ];
    renderDashboard();
    const c = await restreamCard();
    expect(await c.findByTestId('restream-1-state')).toHaveTextContent('Sending');
    expect(c.getByTestId('restream-1-state')).toHaveClass('ok');
    expect(c.getByTestId('restream-2-state')).toHaveTextContent('Failed');
    expect(c.getByTestId('restream-2-state')).toHaveClass('bad');
    expect(c.getByTestId('restream-2-error')).toHaveTextContent('connection refused by live.twitch.tv');
    expect(c.queryByTestId('restream-1-error')).toBeNull();
    expect(c.getByTestId('restream-3-state')).toHaveTextContent('Off');
    expect(c.getByLabelText('Send to Kick')).not.toBeChecked();
    expect(c.getByLabelText('Send to YouTube')).toBeChecked();
    expect(c.getByRole('button', { name: 'Add destination' })).toBeEnabled();
  });

  it('disables Add at five destinations and says why', async () => {
    restreams = [1, 2, 3, 4, 5].map((i) => dest(i));
    renderDashboard();
    const c = await restreamCard();
    const add = await c.findByRole('button', { name: 'Add destination' });
    expect(add).toBeDisabled();
    expect(add).toHaveAccessibleDescription(/the most a channel can have: delete one to add another/);
    expect(c.queryByLabelText('Stream key')).toBeNull();
  });

  it('posts a new destination and never shows its key again', async () => {
    renderDashboard();
    const c = await restreamCard();
    await c.findByText('No destination yet.');
    await userEvent.type(c.getByLabelText('Name'), 'YouTube');
    await userEvent.type(c.getByLabelText('Server URL'), 'https://a.rtmp.youtube.com/live2');
    await userEvent.type(c.getByLabelText('Stream key'), SECRET_KEY);
    await userEvent.click(c.getByRole('button', { name: 'Add destination' }));
    expect(c.getByText('enter an rtmp:// or rtmps:// URL')).toHaveAttribute('id', 'rs-new-url-error');
    expect(writes()).toHaveLength(0);

    await userEvent.clear(c.getByLabelText('Server URL'));
    await userEvent.type(c.getByLabelText('Server URL'), 'rtmps://a.rtmp.youtube.com/live2');
    await userEvent.click(c.getByRole('button', { name: 'Add destination' }));
    expect(await c.findByText('YouTube', { selector: 'strong' })).toBeInTheDocument();
    expect(writes()).toEqual([
      { url: '/api/v1/channels/anns-room/restreams', method: 'POST', body: { name: 'YouTube', url: 'rtmps://a.rtmp.youtube.com/live2', stream_key: SECRET_KEY } },
    ]);
    expect(c.getByLabelText('Stream key')).toHaveValue('');
    expectNowhere(SECRET_KEY);
  });

  it('switches a destination off, and deletes one after confirming', async () => {
    restreams = [dest(1, { name: 'YouTube', state: 'live' })];
    writeReply = (call) => (call.method === 'DELETE' ? new Response(null, { status: 204 }) : json({ ...restreams[0], enabled: false }));
    renderDashboard();
    const c = await restreamCard();
    await userEvent.click(await c.findByLabelText('Send to YouTube'));
    await userEvent.click(c.getByRole('button', { name: 'Delete YouTube' }));
    await userEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete destination' }));
    await vi.waitFor(() =>
      expect(writes()).toEqual([
        { url: '/api/v1/channels/anns-room/restreams/1', method: 'PATCH', body: { enabled: false } },
        { url: '/api/v1/channels/anns-room/restreams/1', method: 'DELETE', body: undefined },
      ]),
    );
  });

  it('follows the list every 5 s while the channel is live, not while it is offline', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    renderDashboard(live);
    await screen.findByText('No destination yet.');
    const before = gets('/restreams').length;
    await act(() => vi.advanceTimersByTimeAsync(5_100));
    expect(gets('/restreams').length).toBe(before + 1);
    await act(() => vi.advanceTimersByTimeAsync(5_000));
    expect(gets('/restreams').length).toBe(before + 2);
    cleanup();

    calls = [];
    renderDashboard(offline);
    await screen.findByText('No destination yet.');
    await act(() => vi.advanceTimersByTimeAsync(11_000));
    expect(gets('/restreams')).toHaveLength(1);
  });
});
