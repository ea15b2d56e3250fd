import { Suspense, lazy, useEffect, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { ChannelDto } from '../api/generated/ChannelDto';
import type { CreateChannel } from '../api/generated/CreateChannel';
import type { CreatedChannel } from '../api/generated/CreatedChannel';
import type { StreamKey } from '../api/generated/StreamKey';
import type { UpdateChannel } from '../api/generated/UpdateChannel';
import { keys, useMyChannels, useStreamHealth } from '../api/queries';
import { fieldErrors, focusFirstError } from './Auth';
import { channelProblems, hasProblems, type Problems } from '../validate';
import { Confirm, CopyField, ErrorState, Field, Loading, duration, formatCount } from '../components/States';
import { RequireAuth } from '../components/RequireAuth';
import { useToast } from '../components/Toasts';
import { ChatSettings } from './ChatSettings';
import { useIngest } from '../api/ingest';
import type { StreamHealth } from '../api/generated/StreamHealth';
import { SLOW_SPEED, SLOW_WORDS, StatusBadge, recordingWords, renditionWords, transcoderWords } from '../components/streamState';
import { PullingNotice, SourceCard, SrtSetup } from './IngestSettings';
import { RestreamCard } from './Restreams';
import { ChannelVisibility } from './ChannelVisibility';

const Webhooks = lazy(() => import('./Webhooks'));
const VideosTab = lazy(() => import('./DashboardVideos').then((m) => ({ default: m.VideosTab })));

export function Dashboard() {
  return (
    <RequireAuth>
      <DashboardInner />
    </RequireAuth>
  );
}

type Tab = 'stream' | 'edit' | 'chat' | 'videos';

function DashboardInner() {
  const channels = useMyChannels(true);
  const [params, setParams] = useSearchParams();
  const [creating, setCreating] = useState(false);
  const [revealed, setRevealed] = useState<{ slug: string; key: string } | null>(null);
  const list = channels.data ?? [];
  const slug = params.get('channel') ?? list[0]?.slug ?? '';
  const tab = (params.get('tab') as Tab) ?? 'stream';
  const current = list.find((c) => c.slug === slug) ?? list[0];
  const select = (s: string, t: Tab = 'stream') => setParams({ channel: s, tab: t });
  if (channels.isPending) return <Loading label="Loading your channels" />;
  if (channels.isError) return <ErrorState error={channels.error} retry={() => channels.refetch()} />;
  return (
    <div>
      <h1>Creator dashboard</h1>
      {revealed && <KeyReveal slug={revealed.slug} streamKey={revealed.key} onDone={() => setRevealed(null)} />}
      {list.length === 0 || creating ? (
        <CreateChannelForm
          first={list.length === 0}
          onCancel={list.length ? () => setCreating(false) : undefined}
          onCreated={(c) => {
            setCreating(false);
            setRevealed({ slug: c.channel.slug, key: c.stream_key });
            select(c.channel.slug);
          }}
        />
      ) : (
        <div className="dash">
          <nav aria-label="Your channels">
            {list.map((c) => (
              <button key={c.id} aria-current={c.slug === current?.slug} onClick={() => select(c.slug, tab)}>
                {c.stream_status !== 'offline' && <StatusBadge status={c.stream_status} />} {c.title}
                <span className="muted small">/{c.slug}</span>
              </button>
            ))}
            <button onClick={() => setCreating(true)}>+ New channel</button>
          </nav>
          {current && (
            <section aria-label={`Channel ${current.slug}`}>
              <div className="row" style={{ marginBottom: 12 }}>
                <h2 style={{ margin: 0 }} className="grow">
                  {current.title}
                </h2>
                <Link className="button" to={`/dashboard/${current.slug}/analytics`}>
                  Analytics
                </Link>
                <Link className="button" to={`/c/${current.slug}`}>
                  View channel
                </Link>
              </div>
              <div className="chips" role="tablist" aria-label="Channel sections">
                {(
                  [
                    ['stream', 'Stream'],
                    ['edit', 'Channel'],
                    ['chat', 'Chat'],
                    ['videos', 'Videos'],
                  ] as const
                ).map(([t, label]) => (
                  <button key={t} role="tab" className="chip" aria-selected={tab === t} aria-pressed={tab === t} onClick={() => select(current.slug, t)}>
                    {label}
                  </button>
                ))}
              </div>
              {tab === 'stream' && <StreamTab channel={current} onKey={(key) => setRevealed({ slug: current.slug, key })} />}
              {tab === 'edit' && <EditTab channel={current} onDeleted={() => setParams({})} />}
              {tab === 'chat' && <ChatSettings slug={current.slug} />}
              {tab === 'videos' && (
                <Suspense fallback={<Loading label="Loading your videos" />}>
                  <VideosTab channel={current} />
                </Suspense>
              )}
            </section>
          )}
        </div>
      )}
    </div>
  );
}

function KeyReveal({ slug, streamKey, onDone }: { slug: string; streamKey: string; onDone: () => void }) {
  const toast = useToast();
  const ingest = useIngest();
  return (
    <div className="card" role="region" aria-label="Your stream key" style={{ borderColor: 'var(--warn)', marginBottom: 20 }}>
      <h2 style={{ marginTop: 0 }}>Stream key for /{slug}</h2>
      <p>
        <strong>This is the only time the key is shown.</strong> Copy it into OBS now; if you lose it, rotate it to get a new one.
        Anyone with the key can stream to your channel.
      </p>
      <CopyField id="obs-server-new" label="Server" value={ingest} onCopied={() => toast.show('Server copied', 'success')} />
      <CopyField id="stream-key" label="Stream Key" value={streamKey} onCopied={() => toast.show('Stream key copied', 'success')} />
      <h3>Or over SRT</h3>
      <SrtSetup id="srt-url-new" slug={slug} streamKey={streamKey} />
      <button className="primary" onClick={onDone}>
        I have saved it
      </button>
    </div>
  );
}

type Errors = Record<string, string | undefined>;

/** The error, else the hint, that describes a field (ids as `Field` draws them). */
function describedBy(id: string, error: string | undefined, hint = false): string | undefined {
  return error ? `${id}-error` : hint ? `${id}-hint` : undefined;
}

/**
 * The errors of a channel form: `check` marks what the browser finds before sending, `fromServer`
 * what a refused request names (a 422 lists every field). Either way every invalid field is marked
 * at once and the first of them in `order` gets the focus.
 */
function useChannelErrors(order: string[], prefix: string) {
  const [errors, setErrors] = useState<Errors>({});
  const show = (errs: Errors) => {
    setErrors(errs);
    focusFirstError(errs, order, (f) => `${prefix}-${f}`);
  };
  return {
    errors,
    clear: () => setErrors({}),
    /** True when the form may be sent. */
    check: (problems: Problems) => {
      show(problems);
      return !hasProblems(problems);
    },
    fromServer: (e: unknown) => show(fieldErrors(e, order)),
  };
}

/** Title, category and description, shared by the create and edit forms. */
function ChannelTextFields({
  prefix,
  form,
  errors,
  set,
  categoryHint,
}: {
  prefix: string;
  form: { title: string; category: string; description: string };
  errors: Errors;
  set: (k: 'title' | 'category' | 'description') => (e: { target: { value: string } }) => void;
  categoryHint?: string;
}) {
  const id = (f: string) => `${prefix}-${f}`;
  return (
    <>
      <Field id={id('title')} label="Stream title" error={errors.title}>
        <input id={id('title')} value={form.title} onChange={set('title')} aria-invalid={Boolean(errors.title)} aria-describedby={describedBy(id('title'), errors.title)} maxLength={140} required />
      </Field>
      <Field id={id('category')} label="Category" error={errors.category} hint={categoryHint}>
        <input id={id('category')} value={form.category} onChange={set('category')} aria-invalid={Boolean(errors.category)} aria-describedby={describedBy(id('category'), errors.category, Boolean(categoryHint))} maxLength={64} />
      </Field>
      <Field id={id('description')} label="About" error={errors.description} hint={`${[...form.description.trim()].length} of 2000 characters`}>
        <textarea id={id('description')} value={form.description} onChange={set('description')} aria-invalid={Boolean(errors.description)} aria-describedby={describedBy(id('description'), errors.description, true)} maxLength={2000} />
      </Field>
    </>
  );
}

const CREATE_ORDER = ['slug', 'title', 'category', 'description'];
const EDIT_ORDER = ['title', 'category', 'description'];

function CreateChannelForm({ first, onCreated, onCancel }: { first: boolean; onCreated: (c: CreatedChannel) => void; onCancel?: () => void }) {
  const [form, setForm] = useState<Required<CreateChannel>>({ slug: '', title: '', description: '', category: '' });
  const { errors, check, fromServer } = useChannelErrors(CREATE_ORDER, 'ch');
  const qc = useQueryClient();
  const toast = useToast();
  const create = useMutation({
    mutationFn: (body: CreateChannel) => api<CreatedChannel>('/channels', { method: 'POST', body }),
    onSuccess: (c) => {
      qc.invalidateQueries({ queryKey: keys.myChannels });
      toast.show(`Channel /${c.channel.slug} created`, 'success');
      onCreated(c);
    },
    onError: fromServer,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (check(channelProblems(form))) create.mutate(form);
  };
  const set = (k: keyof CreateChannel) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <form className="card" onSubmit={submit} noValidate style={{ maxWidth: 560 }} aria-labelledby="ch-form-h">
      <h2 id="ch-form-h" style={{ marginTop: 0 }}>{first ? 'Create your first channel' : 'New channel'}</h2>
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <Field id="ch-slug" label="Address" error={errors.slug} hint={`Your channel's URL: ${location.origin}/c/${form.slug || 'name'}. 3–32 of a–z, 0–9, _ and -.`}>
        <input id="ch-slug" value={form.slug} onChange={set('slug')} aria-invalid={Boolean(errors.slug)} aria-describedby={describedBy('ch-slug', errors.slug, true)} autoComplete="off" required />
      </Field>
      <ChannelTextFields prefix="ch" form={form} errors={errors} set={set} categoryHint="e.g. Just Chatting, Music, a game's name" />
      <div className="row">
        <button className="primary" type="submit" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create channel'}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function StreamTab({ channel, onKey }: { channel: ChannelDto; onKey: (key: string) => void }) {
  const [confirm, setConfirm] = useState(false);
  const toast = useToast();
  const ingest = useIngest();
  const rotate = useMutation({
    mutationFn: () => api<StreamKey>(`/channels/${channel.slug}/stream-key`, { method: 'POST' }),
    onSuccess: (k) => {
      onKey(k.stream_key);
      toast.show('New stream key created; the old one no longer works', 'success');
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  return (
    <div className="stack">
      <LiveStatus channel={channel} />
      <div className="card">
        <h3 style={{ marginTop: 0 }}>OBS setup</h3>
        <PullingNotice slug={channel.slug} />
        <p className="muted small">Settings → Stream → Service “Custom…”, then paste these.</p>
        <CopyField id="obs-server" label="Server" value={ingest} onCopied={() => toast.show('Server copied', 'success')} />
        <div className="field">
          <label htmlFor="obs-key">Stream Key</label>
          <div className="copy-field">
            <input id="obs-key" readOnly value="Shown once when created or rotated" disabled />
            <button onClick={() => setConfirm(true)} disabled={rotate.isPending}>
              Rotate key…
            </button>
          </div>
        </div>
        <h4>Or over SRT</h4>
        <SrtSetup id="obs-srt" slug={channel.slug} />
        <h3>Recommended encoder settings</h3>
        <ul className="small">
          <li>
            Output mode <strong>Advanced</strong>, encoder x264 or hardware (NVENC, QuickSync), rate control <strong>CBR</strong>.
          </li>
          <li>
            <strong>Keyframe interval 1 or 2 s</strong> (not 0/auto: Simple mode sends one every ~8 s, which adds latency to the source quality).
          </li>
          <li>
            Bitrate <strong>3000–6000 Kbps</strong> for 720p/1080p at 30–60 fps; audio AAC 160 Kbps, 48 kHz.
          </li>
          <li>Viewers get the source quality plus 720p, 480p and 360p (those below your resolution); when the server cannot keep up it drops the highest and says so here.</li>
        </ul>
      </div>
      <SourceCard slug={channel.slug} />
      <RestreamCard slug={channel.slug} onAir={channel.stream_status !== 'offline'} />
      {confirm && (
        <Confirm
          title="Rotate the stream key?"
          confirmLabel="Rotate key"
          danger
          onCancel={() => setConfirm(false)}
          onConfirm={() => {
            setConfirm(false);
            rotate.mutate();
          }}
        >
          <p>The current key stops working at once: a running stream keeps going, but OBS needs the new key to reconnect.</p>
        </Confirm>
      )}
    </div>
  );
}

function LiveStatus({ channel }: { channel: ChannelDto }) {
  const status = channel.stream_status;
  // Health while a publisher is connected, whether or not viewers can watch yet.
  const health = useStreamHealth(channel.slug, status !== 'offline');
  const h = health.data;
  if (status === 'offline') {
    return (
      <div className="card" role="status">
        <span className="pill">Offline</span> <span className="muted">Start streaming in OBS; this page shows your stream's health within seconds.</span>
      </div>
    );
  }
  const live = (h?.status ?? status) === 'live';
  return (
    <div className="card" aria-live="off" data-testid="live-status">
      <div className="row" style={{ marginBottom: 10 }}>
        <StatusBadge status={h?.status ?? status} actorState={h?.actor.state} />
        {live && (
          <strong>
            {formatCount(channel.viewer_count)} {channel.viewer_count === 1 ? 'viewer' : 'viewers'}
          </strong>
        )}
        {live && channel.live && <LiveFor since={channel.live.started_at} />}
        {!live && status === 'starting' && !h?.problem && <span className="muted">Connected: waiting for the first video before viewers are told you are live.</span>}
        {h?.protocol && h.publisher_connected && (
          <span className="pill" data-testid="ingest-protocol">
            {h.protocol === 'rtsp' ? 'Camera (RTSP)' : h.protocol.toUpperCase()}
          </span>
        )}
        {h && !h.publisher_connected && <span className="pill bad">Encoder disconnected: waiting for it to reconnect</span>}
      </div>
      {h?.problem && (
        <div className={`banner ${h.status === 'failed' ? 'bad' : 'warn'}`} role={h.status === 'failed' ? 'alert' : 'status'} data-testid="stream-problem">
          {h.problem}
        </div>
      )}
      {health.isPending ? <Loading label="Loading stream health" /> : health.isError ? <p className="muted">Stream health is not available on this node.</p> : h ? <IngestStats h={h} /> : null}
    </div>
  );
}

function LiveFor({ since }: { since: string }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(id);
  }, []);
  return <span className="muted">live for {duration((now - new Date(since).getTime()) / 1000)}</span>;
}

/** Warnings to show: the server's, plus a slow transcoder before the server's 10 s verdict. */
export function healthWarnings(h: Pick<StreamHealth, 'warnings' | 'ffmpeg_speed'>): string[] {
  const w = [...h.warnings];
  if (h.ffmpeg_speed != null && h.ffmpeg_speed < SLOW_SPEED && !w.some((x) => /keep up/i.test(x))) {
    w.push(`Transcoder speed ${h.ffmpeg_speed.toFixed(2)}×: ${SLOW_WORDS}.`);
  }
  return w;
}

/** Ingest and transcoder health, as the encoder's side sees it; red and amber mark what needs attention. */
export function IngestStats({ h }: { h: StreamHealth }) {
  const i = h.ingest;
  const kf = i?.keyframe_interval_s ?? null;
  const t = transcoderWords(h.transcoder_state);
  const warnings = healthWarnings(h);
  const stat = (k: string, v: string, tone?: 'warn' | 'bad', testId?: string) => (
    <div className={`stat${tone ? ` ${tone}` : ''}`} data-testid={testId}>
      <div className="v">{v}</div>
      <div className="k">{k}</div>
    </div>
  );
  return (
    <>
      {warnings.length > 0 && (
        <ul className="banner warn" data-testid="stream-warnings">
          {warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
      <h3>Transcoder</h3>
      <div className="stats" data-testid="transcoder-stats">
        {stat('State', t.text, t.tone, 'transcoder-state')}
        {stat('Speed', h.ffmpeg_speed == null ? '–' : `${h.ffmpeg_speed.toFixed(2)}×`, h.ffmpeg_speed != null && h.ffmpeg_speed < SLOW_SPEED ? 'warn' : undefined)}
        {stat('CPU', h.ffmpeg_cpu_percent == null ? '–' : `${Math.round(h.ffmpeg_cpu_percent)}%`)}
        {stat('Restarts', String(h.transcoder_restarts), h.transcoder_restarts > 0 ? 'warn' : undefined)}
      </div>
      {h.transcoder_last_error && (
        <p className="small last-error" data-testid="transcoder-error">
          Last error: <code>{h.transcoder_last_error}</code>
        </p>
      )}
      <h3>Qualities</h3>
      {h.renditions.length === 0 ? (
        <p className="muted small">None yet: they appear once the transcoder knows your video’s size.</p>
      ) : (
        <ul className="rendition-chips" aria-label="Qualities" data-testid="renditions">
          {h.renditions.map((r) => {
            const w = renditionWords(r.state);
            return (
              <li key={r.name} className={`pill ${w.tone === 'muted' ? '' : w.tone}`} data-state={r.state} title={`${r.segments} segments${r.last_segment_age_s != null ? `, the newest ${r.last_segment_age_s.toFixed(1)} s ago` : ''}`}>
                {r.name} · {w.text}
              </li>
            );
          })}
        </ul>
      )}
      {h.recording && (
        <>
          <h3>Recording</h3>
          <div className="stats" data-testid="recording-stats">
            {stat('State', recordingWords(h.recording.state, h.recording.dvr_only).text, recordingWords(h.recording.state, h.recording.dvr_only).tone, 'recording-state')}
            {stat('Stored', `${h.recording.uploaded_segments} segments`)}
            {stat('Waiting to upload', String(h.recording.spooled_segments), h.recording.spooled_segments > 10 ? 'warn' : undefined)}
            {stat('Lost', String(h.recording.lost_segments), h.recording.lost_segments > 0 ? 'bad' : undefined)}
            {stat('Upload delay', h.recording.upload_lag_p50_ms == null ? '–' : `${(h.recording.upload_lag_p50_ms / 1000).toFixed(1)} s`)}
          </div>
          {h.recording.last_error && (
            <p className="small last-error" data-testid="recording-error">
              Last error: <code>{h.recording.last_error}</code>
            </p>
          )}
        </>
      )}
      <h3>Your encoder</h3>
      <div className="stats" data-testid="ingest-stats">
        {stat('Bitrate', i ? `${Math.round(i.bitrate_kbps)} kb/s` : '–', i && i.bitrate_kbps < 300 ? 'warn' : undefined)}
        {stat('Frame rate', i ? `${i.fps.toFixed(1)} fps` : '–')}
        {stat('Keyframe interval', kf == null ? '–' : `${kf.toFixed(1)} s`, kf != null && kf > 2.5 ? 'warn' : undefined)}
        {stat('Resolution', i?.video ? `${i.video.width}×${i.video.height}` : '–')}
        {stat('Dropped frames', String(h.dropped_frames), h.dropped_frames > 0 ? 'warn' : undefined)}
      </div>
    </>
  );
}

/** What the Channel tab edits (recording is on the Videos tab). */
type ChannelText = Required<Pick<UpdateChannel, 'title' | 'category' | 'description'>>;

function EditTab({ channel, onDeleted }: { channel: ChannelDto; onDeleted: () => void }) {
  const [form, setForm] = useState<ChannelText>({ title: channel.title, category: channel.category, description: channel.description });
  const { errors, clear, check, fromServer } = useChannelErrors(EDIT_ORDER, 'edit');
  const [confirm, setConfirm] = useState(false);
  const qc = useQueryClient();
  const toast = useToast();
  // Another channel picked: its own values, and no errors left from the previous one.
  useEffect(() => {
    setForm({ title: channel.title, category: channel.category, description: channel.description });
    clear();
  }, [channel.slug]); // eslint-disable-line react-hooks/exhaustive-deps
  const save = useMutation({
    mutationFn: (body: UpdateChannel) => api<ChannelDto>(`/channels/${channel.slug}`, { method: 'PATCH', body }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: keys.myChannels });
      qc.invalidateQueries({ queryKey: keys.channel(channel.slug) });
      toast.show('Channel saved', 'success');
    },
    onError: fromServer,
  });
  const del = useMutation({
    mutationFn: () => api<void>(`/channels/${channel.slug}`, { method: 'DELETE' }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: keys.myChannels });
      toast.show(`Channel /${channel.slug} deleted`, 'success');
      onDeleted();
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  const set = (k: keyof ChannelText) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <div className="stack" style={{ maxWidth: 620 }}>
      <form
        className="card"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (check(channelProblems(form))) save.mutate(form);
        }}
        aria-label="Channel details"
      >
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        <ChannelTextFields prefix="edit" form={form} errors={errors} set={set} />
        <button className="primary" type="submit" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : 'Save'}
        </button>
      </form>
      <ChannelVisibility channel={channel} />
      <Suspense fallback={<Loading label="Loading webhooks" />}>
        <Webhooks slug={channel.slug} />
      </Suspense>
      <div className="card">
        <h3 style={{ marginTop: 0 }}>Delete channel</h3>
        <p className="muted">Deletes /{channel.slug}, its broadcasts and its chat. This cannot be undone.</p>
        <button className="danger" onClick={() => setConfirm(true)} disabled={del.isPending}>
          Delete channel…
        </button>
      </div>
      {confirm && (
        <Confirm
          title={`Delete /${channel.slug}?`}
          confirmLabel="Delete"
          danger
          onCancel={() => setConfirm(false)}
          onConfirm={() => {
            setConfirm(false);
            del.mutate();
          }}
        >
          <p>The channel, its broadcasts and chat history are removed for good.</p>
        </Confirm>
      )}
    </div>
  );
}
