// The dashboard's Videos section of a channel: whether broadcasts are recorded and for how long
// they are kept, and each recorded video: title, visibility, chapters, subtitles, delete. Every
// refused request shows the API's message next to the control that sent it.
import { useEffect, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError, api, errorMessage } from '../api/client';
import type { ChannelDto } from '../api/generated/ChannelDto';
import { keys } from '../api/queries';
import { useChannelVideos, videoKeys, videoPath, type Visibility } from '../api/videos';
import type { ChapterDto } from '../api/generated/ChapterDto';
import type { PutSubtitle } from '../api/generated/PutSubtitle';
import type { PutChapters } from '../api/generated/PutChapters';
import type { UpdateVideo } from '../api/generated/UpdateVideo';
import type { VideoDto } from '../api/generated/VideoDto';
import { Confirm, ErrorState, Field, Loading, formatCount, timeAgo } from '../components/States';
import { useToast } from '../components/Toasts';
import { chapterProblems, formatClock, formatLength, parseClock, sortChapters } from '../player/chapters';
import { fieldErrors } from './Auth';
import { VideoThumb } from './ChannelVideos';
import { useMediaAccess, type MediaAccess } from '../api/playback';

type Errors = Partial<Record<string, string>>;

/** The channel's recording settings, as PATCH /channels/{slug} takes them. */
type Recording = Pick<ChannelDto, 'record_vods' | 'vod_retention_days'>;

export function VideosTab({ channel }: { channel: ChannelDto }) {
  return (
    <div className="stack" style={{ maxWidth: 900 }}>
      <RecordingForm channel={channel} />
      <VideoManager slug={channel.slug} visibility={channel.visibility} />
    </div>
  );
}

/** Retention in days: 1 to 3650 (ten years), per the API. */
const MAX_RETENTION_DAYS = 3650;

function RecordingForm({ channel }: { channel: ChannelDto }) {
  const [record, setRecord] = useState(channel.record_vods);
  const [forever, setForever] = useState(channel.vod_retention_days == null);
  const [days, setDays] = useState(String(channel.vod_retention_days ?? 30));
  const [errors, setErrors] = useState<Errors>({});
  const qc = useQueryClient();
  const toast = useToast();
  // Another channel picked: its own settings.
  useEffect(() => {
    setRecord(channel.record_vods);
    setForever(channel.vod_retention_days == null);
    setDays(String(channel.vod_retention_days ?? 30));
    setErrors({});
  }, [channel.slug]); // eslint-disable-line react-hooks/exhaustive-deps
  const save = useMutation({
    mutationFn: (body: Recording) => api<ChannelDto>(`/channels/${encodeURIComponent(channel.slug)}`, { method: 'PATCH', body }),
    onSuccess: () => {
      setErrors({});
      qc.invalidateQueries({ queryKey: keys.myChannels });
      qc.invalidateQueries({ queryKey: keys.channel(channel.slug) });
      toast.show('Recording settings saved', 'success');
    },
    onError: (e) => setErrors(fieldErrors(e, ['record_vods', 'vod_retention_days'])),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const n = Number(days);
    if (!forever && !(Number.isInteger(n) && n >= 1 && n <= MAX_RETENTION_DAYS)) {
      setErrors({ vod_retention_days: `a whole number of days from 1 to ${MAX_RETENTION_DAYS}` });
      return;
    }
    save.mutate({ record_vods: record, vod_retention_days: forever ? null : n });
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-label="Recording">
      <h3 style={{ marginTop: 0 }}>Recording</h3>
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <label className="check">
        <input type="checkbox" checked={record} onChange={(e) => setRecord(e.target.checked)} aria-describedby={errors.record_vods ? 'rec-record-error' : undefined} />
        <span>
          Record broadcasts
          <span className="hint">Each broadcast becomes a video on your channel’s Videos tab when it ends.</span>
        </span>
      </label>
      {errors.record_vods && (
        <p className="inline-error" id="rec-record-error" role="alert">
          {errors.record_vods}
        </p>
      )}
      <fieldset className="plain-fieldset">
        <legend>Keep videos</legend>
        <label className="check">
          <input type="radio" name="retention" checked={forever} onChange={() => setForever(true)} />
          <span>Forever</span>
        </label>
        <label className="check">
          <input type="radio" name="retention" checked={!forever} onChange={() => setForever(false)} />
          <span>For a number of days, then delete them</span>
        </label>
        {!forever && (
          <Field id="rec-days" label="Days" error={errors.vod_retention_days}>
            <input
              id="rec-days"
              type="number"
              min={1}
              max={MAX_RETENTION_DAYS}
              value={days}
              onChange={(e) => setDays(e.target.value)}
              aria-invalid={Boolean(errors.vod_retention_days)}
              aria-describedby={errors.vod_retention_days ? 'rec-days-error' : undefined}
              style={{ maxWidth: 140 }}
            />
          </Field>
        )}
        {forever && errors.vod_retention_days && (
          <p className="inline-error" role="alert">
            {errors.vod_retention_days}
          </p>
        )}
      </fieldset>
      <button className="primary" type="submit" disabled={save.isPending}>
        {save.isPending ? 'Saving…' : 'Save recording settings'}
      </button>
    </form>
  );
}

function VideoManager({ slug, visibility }: { slug: string; visibility: string }) {
  const q = useChannelVideos(slug);
  // The owner always gets a token: thumbnails of a channel that is not public need it.
  const access = useMediaAccess(slug, visibility, true);
  if (q.isPending) return <Loading label="Loading your videos" />;
  if (!q.data) return <ErrorState error={q.error} retry={() => q.refetch()} />;
  const items = q.data.pages.flatMap((p) => p.items);
  return (
    <section className="card" aria-labelledby="videos-h">
      <h3 id="videos-h" style={{ marginTop: 0 }}>
        Videos
      </h3>
      {items.length === 0 ? (
        <p className="muted">No videos yet. With recording on, each broadcast shows up here when it ends.</p>
      ) : (
        <ul className="video-rows" aria-label="Your videos">
          {items.map((v) => (
            <VideoRow key={v.id} video={v} slug={slug} access={access} />
          ))}
        </ul>
      )}
      {q.hasNextPage && (
        <div className="load-more">
          {q.isFetchNextPageError && <p className="inline-error">{errorMessage(q.error)}</p>}
          <button onClick={() => q.fetchNextPage()} disabled={q.isFetchingNextPage}>
            {q.isFetchingNextPage ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </section>
  );
}

/** Mutations on one video: each refreshes the lists and the video's own page. */
function useVideoWrite<B>(video: VideoDto, slug: string, send: (body: B) => Promise<VideoDto | void>, onError: (e: unknown) => void) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: send,
    onSuccess: (v) => {
      if (v) qc.setQueryData(videoKeys.video(video.id), v);
      qc.invalidateQueries({ queryKey: videoKeys.channelVideos(slug) });
    },
    onError,
  });
}

const STATUS: Record<VideoDto['status'], { text: string; tone: string }> = {
  recording: { text: 'Recording', tone: 'live' },
  processing: { text: 'Processing', tone: 'warn' },
  ready: { text: 'Ready', tone: 'ok' },
  failed: { text: 'Failed', tone: 'bad' },
};

function VideoRow({ video: v, slug, access }: { video: VideoDto; slug: string; access: MediaAccess }) {
  const [title, setTitle] = useState(v.title);
  const [errors, setErrors] = useState<Errors>({});
  const [confirm, setConfirm] = useState(false);
  const toast = useToast();
  useEffect(() => setTitle(v.title), [v.title]);
  const path = videoPath(v.id);
  const patch = useVideoWrite<UpdateVideo>(v, slug, (body) => api<VideoDto>(path, { method: 'PATCH', body }), (e) => setErrors(fieldErrors(e, ['title', 'visibility'])));
  const del = useVideoWrite<void>(v, slug, () => api<void>(path, { method: 'DELETE' }), (e) => setErrors({ delete: errorMessage(e) }));
  const id = (f: string) => `video-${v.id}-${f}`;
  const status = STATUS[v.status];
  const saveTitle = (e: FormEvent) => {
    e.preventDefault();
    const t = title.trim();
    if (!t || [...t].length > 140) return setErrors({ title: '1 to 140 characters' });
    setErrors({});
    patch.mutate({ title: t }, { onSuccess: () => toast.show('Title saved', 'success') });
  };
  return (
    <li className="video-row" data-video-id={v.id}>
      <Link to={`/v/${v.id}`} className="thumb" aria-label={`Watch ${v.title}`}>
        <VideoThumb video={v} width={160} height={90} access={access} />
        {v.status === 'ready' && <span className="duration">{formatLength(v.duration_secs)}</span>}
      </Link>
      <div style={{ minWidth: 0 }}>
        <div className="row small muted">
          <span className={`pill ${status.tone}`}>{status.text}</span>
          <span>{timeAgo(v.created_at)}</span>
          <span>
            {formatCount(v.view_count)} {v.view_count === 1 ? 'view' : 'views'}
          </span>
          {v.missing_segments > 0 && <span className="pill warn">{v.missing_segments} segments missing</span>}
          {v.takedown && (
            <span className="pill bad" title={v.takedown.notice}>
              Taken down
            </span>
          )}
        </div>
        <form className="row" onSubmit={saveTitle} noValidate aria-label={`Title of ${v.title}`} style={{ marginTop: 8, alignItems: 'flex-end' }}>
          <div className="field grow" style={{ marginBottom: 0 }}>
            <label htmlFor={id('title')}>Title</label>
            <input
              id={id('title')}
              value={title}
              onChange={(e) => setTitle(e.target.value)}
              maxLength={140}
              aria-invalid={Boolean(errors.title)}
              aria-describedby={errors.title ? `${id('title')}-error` : undefined}
            />
          </div>
          <button type="submit" disabled={patch.isPending || title === v.title}>
            Save title
          </button>
          <div className="field" style={{ marginBottom: 0 }}>
            <label htmlFor={id('visibility')}>Visibility</label>
            <select
              id={id('visibility')}
              value={v.visibility}
              onChange={(e) => {
                setErrors({});
                patch.mutate({ visibility: e.target.value as Visibility }, { onSuccess: () => toast.show('Visibility saved', 'success') });
              }}
              aria-invalid={Boolean(errors.visibility)}
              aria-describedby={errors.visibility ? `${id('visibility')}-error` : undefined}
            >
              <option value="public">Public</option>
              <option value="unlisted">Unlisted (only with the link)</option>
              <option value="private">Private (only you)</option>
            </select>
          </div>
          <button type="button" className="danger" onClick={() => setConfirm(true)} disabled={del.isPending}>
            Delete…
          </button>
        </form>
        {errors.title && (
          <p className="inline-error" id={`${id('title')}-error`} role="alert">
            {errors.title}
          </p>
        )}
        {errors.visibility && (
          <p className="inline-error" id={`${id('visibility')}-error`} role="alert">
            {errors.visibility}
          </p>
        )}
        {(errors.form || errors.delete) && (
          <p className="inline-error" role="alert">
            {errors.form ?? errors.delete}
          </p>
        )}
        {v.status === 'ready' && (
          <>
            <details>
              <summary>Chapters ({v.chapters.length})</summary>
              <ChaptersEditor video={v} slug={slug} />
            </details>
            <details>
              <summary>Subtitles ({v.subtitles.length})</summary>
              <SubtitlesEditor video={v} slug={slug} />
            </details>
          </>
        )}
      </div>
      {confirm && (
        <Confirm
          title="Delete this video?"
          confirmLabel="Delete video"
          danger
          onCancel={() => setConfirm(false)}
          onConfirm={() => {
            setConfirm(false);
            del.mutate(undefined, { onSuccess: () => toast.show(`“${v.title}” deleted`, 'success') });
          }}
        >
          <p>“{v.title}”, its chapters and subtitles are removed for good. Clips made from it stay.</p>
        </Confirm>
      )}
    </li>
  );
}

type ChapterRow = { title: string; start: string };

const rowsOf = (chapters: ChapterDto[]): ChapterRow[] => sortChapters(chapters).map((c) => ({ title: c.title, start: formatClock(c.start) }));

/**
 * The editor row (0-based) a server problem is about, and its words: the API names the field
 * `chapters` and starts the message with `chapter N:` (1-based, in the order sent).
 */
export function chapterProblemRow(field: string, message: string): { row: number; message: string } | null {
  const m = field === 'chapters' ? /^chapter (\d+):\s*(.*)$/.exec(message) : null;
  return m ? { row: Number(m[1]) - 1, message: m[2] } : null;
}

function ChaptersEditor({ video: v, slug }: { video: VideoDto; slug: string }) {
  const [rows, setRows] = useState<ChapterRow[]>(() => rowsOf(v.chapters));
  const [rowErrors, setRowErrors] = useState<(string | null)[]>([]);
  const [error, setError] = useState<string | null>(null);
  const toast = useToast();
  const save = useVideoWrite<PutChapters>(
    v,
    slug,
    (body) => api<VideoDto>(`${videoPath(v.id)}/chapters`, { method: 'PUT', body }),
    (e) => {
      const perRow: (string | null)[] = [];
      const other: string[] = [];
      if (e instanceof ApiError && e.fields.length > 0) {
        for (const f of e.fields) {
          const p = chapterProblemRow(f.field, f.message);
          if (p == null) other.push(f.message);
          else perRow[p.row] ??= p.message;
        }
      } else other.push(errorMessage(e));
      setRowErrors(perRow);
      setError(other.length ? other.join('; ') : null);
    },
  );
  const set = (i: number, k: keyof ChapterRow, value: string) => setRows(rows.map((r, n) => (n === i ? { ...r, [k]: value } : r)));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problems = chapterProblems(rows, v.duration_secs);
    setRowErrors(problems);
    setError(null);
    if (problems.some((p) => p != null)) return;
    // Sent, and shown, in time order: the server's "chapter N" is the N-th row.
    const sorted = [...rows].sort((a, b) => (parseClock(a.start) ?? 0) - (parseClock(b.start) ?? 0));
    setRows(sorted);
    const chapters = sorted.map((r) => ({ title: r.title.trim(), start: parseClock(r.start) ?? 0 }));
    save.mutate({ chapters }, { onSuccess: (nv) => {
      if (nv) setRows(rowsOf(nv.chapters));
      toast.show('Chapters saved', 'success');
    } });
  };
  const id = (i: number, f: string) => `ch-${v.id}-${i}-${f}`;
  return (
    <form onSubmit={submit} noValidate aria-label={`Chapters of ${v.title}`}>
      <p className="muted small">Each chapter starts at a time in the video (m:ss or h:mm:ss). Viewers see them on the seek bar and under the video.</p>
      <ul className="chapter-rows">
        {rows.map((r, i) => (
          <li key={i}>
            <label className="visually-hidden" htmlFor={id(i, 'start')}>
              Chapter {i + 1} start
            </label>
            <input
              id={id(i, 'start')}
              className="start"
              value={r.start}
              placeholder="0:00"
              onChange={(e) => set(i, 'start', e.target.value)}
              aria-invalid={Boolean(rowErrors[i])}
              aria-describedby={rowErrors[i] ? id(i, 'error') : undefined}
            />
            <label className="visually-hidden" htmlFor={id(i, 'title')}>
              Chapter {i + 1} title
            </label>
            <input
              id={id(i, 'title')}
              className="grow"
              value={r.title}
              placeholder="Title"
              maxLength={100}
              onChange={(e) => set(i, 'title', e.target.value)}
              aria-invalid={Boolean(rowErrors[i])}
              aria-describedby={rowErrors[i] ? id(i, 'error') : undefined}
            />
            <button type="button" onClick={() => setRows(rows.filter((_, n) => n !== i))} aria-label={`Remove chapter ${i + 1}`}>
              Remove
            </button>
            {rowErrors[i] && (
              <p className="inline-error" id={id(i, 'error')} role="alert" style={{ flexBasis: '100%' }}>
                {rowErrors[i]}
              </p>
            )}
          </li>
        ))}
      </ul>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <div className="row">
        <button type="button" onClick={() => setRows([...rows, { title: '', start: rows.length ? '' : '0:00' }])}>
          Add chapter
        </button>
        <button type="submit" className="primary" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : 'Save chapters'}
        </button>
      </div>
    </form>
  );
}

/** A file's text (FileReader: every browser, and jsdom in the tests). */
function readText(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result ?? ''));
    r.onerror = () => reject(r.error);
    r.readAsText(file);
  });
}

/** The largest subtitle file the server takes. */
const MAX_VTT_BYTES = 1024 * 1024;

/** A language tag the server can put in a path: `en`, `pt-BR`, `es-419`. */
const LANG = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/;

function SubtitlesEditor({ video: v, slug }: { video: VideoDto; slug: string }) {
  const [lang, setLang] = useState('');
  const [label, setLabel] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [errors, setErrors] = useState<Errors>({});
  const toast = useToast();
  const upload = useVideoWrite<{ lang: string; body: PutSubtitle }>(
    v,
    slug,
    ({ lang, body }) => api<VideoDto>(`${videoPath(v.id)}/subtitles/${encodeURIComponent(lang)}`, { method: 'PUT', body }),
    (e) => setErrors(fieldErrors(e, ['lang', 'label', 'vtt'])),
  );
  const remove = useVideoWrite<string>(
    v,
    slug,
    (l) => api<VideoDto>(`${videoPath(v.id)}/subtitles/${encodeURIComponent(l)}`, { method: 'DELETE' }),
    (e) => setErrors({ remove: errorMessage(e) }),
  );
  const id = (f: string) => `sub-${v.id}-${f}`;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Errors = {};
    const l = lang.trim();
    let vtt = '';
    try {
      vtt = file ? await readText(file) : '';
    } catch {
      problems.vtt = 'the file could not be read';
    }
    if (!LANG.test(l)) problems.lang = 'a language code such as en or pt-BR';
    if (!label.trim()) problems.label = 'the name viewers pick, such as English';
    if (file && file.size > MAX_VTT_BYTES) problems.vtt = 'at most 1 MiB';
    if (!file) problems.vtt = 'choose a .vtt file';
    else if (!problems.vtt && !/^\uFEFF?WEBVTT/.test(vtt)) problems.vtt = 'not a WebVTT file (it must start with WEBVTT)';
    setErrors(problems);
    if (Object.keys(problems).length > 0) return;
    upload.mutate(
      { lang: l, body: { label: label.trim(), vtt } },
      {
        onSuccess: () => {
          toast.show(`Subtitles “${label.trim()}” uploaded`, 'success');
          setLang('');
          setLabel('');
          setFile(null);
        },
      },
    );
  };
  return (
    <div>
      {v.subtitles.length > 0 && (
        <ul className="plain" aria-label="Subtitles">
          {v.subtitles.map((s) => (
            <li key={s.lang} className="row" style={{ marginBottom: 6 }}>
              <span className="grow">
                {s.label} <span className="muted small">({s.lang})</span>
              </span>
              <button type="button" onClick={() => remove.mutate(s.lang)} disabled={remove.isPending} aria-label={`Remove subtitles ${s.label}`}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      {errors.remove && (
        <p className="inline-error" role="alert">
          {errors.remove}
        </p>
      )}
      <form onSubmit={submit} noValidate aria-label={`Upload subtitles for ${v.title}`}>
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        <div className="row" style={{ alignItems: 'flex-start' }}>
          <Field id={id('file')} label="WebVTT file" error={errors.vtt}>
            <input
              id={id('file')}
              type="file"
              accept=".vtt,text/vtt"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              aria-invalid={Boolean(errors.vtt)}
              aria-describedby={errors.vtt ? `${id('file')}-error` : undefined}
            />
          </Field>
          <Field id={id('lang')} label="Language" error={errors.lang}>
            <input id={id('lang')} value={lang} placeholder="en" size={8} onChange={(e) => setLang(e.target.value)} aria-invalid={Boolean(errors.lang)} aria-describedby={errors.lang ? `${id('lang')}-error` : undefined} />
          </Field>
          <Field id={id('label')} label="Label" error={errors.label}>
            <input id={id('label')} value={label} placeholder="English" maxLength={40} onChange={(e) => setLabel(e.target.value)} aria-invalid={Boolean(errors.label)} aria-describedby={errors.label ? `${id('label')}-error` : undefined} />
          </Field>
        </div>
        <button type="submit" disabled={upload.isPending}>
          {upload.isPending ? 'Uploading…' : 'Upload subtitles'}
        </button>
      </form>
    </div>
  );
}
