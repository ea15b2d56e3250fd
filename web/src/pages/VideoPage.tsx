// A recorded broadcast at /v/:id: the player while it is ready, its state in words while it is
// being recorded or processed (polling) or when processing failed; title, channel, views,
// date, description, chapters, and for signed-in viewers a form that cuts a clip from it.
import { useEffect, useRef, useState, type FormEvent, type RefObject } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useMutation } from '@tanstack/react-query';
import { ApiError, api } from '../api/client';
import { useMe } from '../api/session';
import { localPath, useVideo, videoClipPath } from '../api/videos';
import type { ClipDto } from '../api/generated/ClipDto';
import type { CreateVodClip } from '../api/generated/CreateVodClip';
import type { VideoDto } from '../api/generated/VideoDto';
import { ErrorState, Field, GoneState, Loading, formatCount, timeAgo } from '../components/States';
import { ReportButton } from '../components/ReportDialog';
import { useToast } from '../components/Toasts';
import { formatClock, formatLength, parseClock, sortChapters } from '../player/chapters';
import { VodPlayer, type VodHandle } from '../player/VodPlayer';
import { PlaybackGate } from '../player/PlaybackGate';
import { usePlaybackToken } from '../api/playback';
import { useChannel } from '../api/queries';
import { fieldErrors } from './Auth';
import { NotFound } from './Static';
import { TakedownNotice, takenDownNotice } from './Dmca';

export function VideoPage() {
  const { id = '' } = useParams();
  const video = useVideo(id);
  const v = video.data;
  const player = useRef<VodHandle>(null);
  useEffect(() => {
    document.title = v ? `${v.title} – ${v.streamer_name} · streamhall` : 'streamhall';
    return () => {
      document.title = 'streamhall';
    };
  }, [v]);
  if (video.isPending) return <Loading label="Loading the video" />;
  if (!v) {
    if (video.error instanceof ApiError && video.error.status === 404) return <NotFound what="video" />;
    const gone = takenDownNotice(video.error);
    if (gone) return <TakedownNotice notice={gone} />;
    if (video.error instanceof ApiError && video.error.status === 410) return <GoneState error={video.error} what="video" />;
    return <ErrorState error={video.error} retry={() => video.refetch()} />;
  }
  const chapters = sortChapters(v.chapters);
  return (
    <div className="vod-page">
      {v.takedown ? <TakedownNotice notice={v.takedown.notice} takedown={v.takedown} /> : <VideoState video={v} handle={player} />}
      <div className="vod-info">
        <h1 className="title">{v.title}</h1>
        <div className="row muted small">
          <Link to={`/c/${v.channel_slug}`}>
            <strong>{v.streamer_name}</strong>
          </Link>
          <span>
            {formatCount(v.view_count)} {v.view_count === 1 ? 'view' : 'views'}
          </span>
          <span title={new Date(v.created_at).toLocaleString()}>Streamed {timeAgo(v.created_at)}</span>
          {v.status === 'ready' && <span>{formatLength(v.duration_secs)}</span>}
          {v.visibility !== 'public' && <span className="pill">{v.visibility === 'private' ? 'Private' : 'Unlisted'}</span>}
          <Link to={`/c/${v.channel_slug}/videos`}>More videos</Link>
          <ReportButton target={{ kind: 'video', target: v.id, label: 'this video' }} />
        </div>
        {v.missing_segments > 0 && v.status === 'ready' && (
          <p className="muted small">Parts of this recording are missing ({v.missing_segments} {v.missing_segments === 1 ? 'segment' : 'segments'}): the video skips over them.</p>
        )}
        {v.description && <p className="description">{v.description}</p>}
        {chapters.length > 0 && v.status === 'ready' && (
          <section aria-labelledby="chapters-h">
            <h2 id="chapters-h">Chapters</h2>
            <ol className="chapters">
              {chapters.map((c) => (
                <li key={c.start}>
                  <button className="link-button" onClick={() => player.current?.seek(c.start)}>
                    <span className="clock">{formatClock(c.start)}</span> {c.title}
                  </button>
                </li>
              ))}
            </ol>
          </section>
        )}
        {v.status === 'ready' && !v.takedown && <ClipAction video={v} handle={player} />}
      </div>
    </div>
  );
}

/** The player, or what the video's status means for a viewer. */
function VideoState({ video: v, handle }: { video: VideoDto; handle: RefObject<VodHandle | null> }) {
  // A video inherits its channel's gate: a channel that is not public needs a playback token.
  const me = useMe();
  const channel = useChannel(v.channel_slug);
  const access = usePlaybackToken(v.channel_slug, channel.data?.visibility ?? null, me != null);
  // Until the channel is known nothing is fetched: a protected channel's files need the token.
  if (v.status === 'ready' && (channel.isPending || (access.needsToken && !access.token))) {
    return (
      <PlaybackGate
        gate={channel.isPending ? { kind: 'checking' } : access.gate}
        name={v.streamer_name}
        submitting={access.submitting}
        onPassword={(pw) => void access.submit(pw)}
      />
    );
  }
  if (v.status === 'ready') {
    return (
      <VodPlayer
        playbackToken={access.token}
        src={localPath(v.playback_url)}
        title={v.title}
        auth={v.visibility === 'private'}
        duration={v.duration_secs}
        chapters={v.chapters}
        spriteVtt={v.sprite_vtt_url ? localPath(v.sprite_vtt_url) : null}
        subtitles={v.subtitles}
        resumeId={v.id}
        handle={handle}
      />
    );
  }
  const words = {
    recording: {
      pill: 'Recording',
      title: 'This broadcast is still live',
      text: 'It is being recorded: the video can be watched here shortly after the broadcast ends.',
    },
    processing: {
      pill: 'Processing',
      title: 'The video will be ready soon',
      text: 'The recording is being prepared. This page starts playing it by itself when it is ready.',
    },
    failed: {
      pill: 'Failed',
      title: 'This video cannot be played',
      text: 'The recording could not be processed.',
    },
  }[v.status];
  return (
    <div className="offline" role={v.status === 'failed' ? 'alert' : 'status'} data-status={v.status}>
      <div>
        <span className={`pill ${v.status === 'failed' ? 'bad' : 'warn'}`}>{words.pill}</span>
        <h2>{words.title}</h2>
        <p className="muted">{words.text}</p>
        {v.status === 'recording' && (
          <p>
            <Link to={`/c/${v.channel_slug}`}>Watch {v.streamer_name} live</Link>
          </p>
        )}
        {v.status === 'processing' && <div className="spinner" aria-hidden="true" />}
      </div>
    </div>
  );
}

/** The default clip around `position`: 30 s, centred, inside the video. */
export function defaultClipRange(position: number, duration: number): { start: number; end: number } {
  const len = Math.min(30, duration);
  const start = Math.max(0, Math.min(Math.floor(position - len / 2), Math.floor(duration - len)));
  return { start, end: Math.min(Math.floor(duration), start + Math.round(len)) };
}

const CLIP_ORDER = ['start', 'end', 'title'];
/** How long a clip of a video may be, in seconds (the API's bounds). */
const CLIP_MIN_SECS = 5;
const CLIP_MAX_SECS = 60;

function ClipAction({ video: v, handle }: { video: VideoDto; handle: RefObject<VodHandle | null> }) {
  const me = useMe();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({ start: '', end: '', title: '' });
  const [errors, setErrors] = useState<Partial<Record<string, string>>>({});
  const [made, setMade] = useState<ClipDto | null>(null);
  const create = useMutation({
    mutationFn: (body: CreateVodClip) => api<ClipDto>(videoClipPath(v.id), { method: 'POST', body }),
    onSuccess: (c) => {
      setMade(c);
      setOpen(false);
      toast.show('Clip created', 'success', { to: `/clip/${c.id}`, label: 'Open the clip' });
    },
    onError: (e) => setErrors(fieldErrors(e, CLIP_ORDER)),
  });
  if (!me) return null;
  const start = () => {
    const r = defaultClipRange(handle.current?.position() ?? 0, v.duration_secs);
    setForm({ start: formatClock(r.start), end: formatClock(r.end), title: '' });
    setErrors({});
    setMade(null);
    setOpen(true);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const s = parseClock(form.start);
    const end = parseClock(form.end);
    const problems: Partial<Record<string, string>> = {};
    if (s == null) problems.start = 'as m:ss, e.g. 1:05';
    if (end == null) problems.end = 'as m:ss, e.g. 1:35';
    else if (s != null && end <= s) problems.end = 'after the start';
    else if (end > Math.ceil(v.duration_secs)) problems.end = `at most the video’s length (${formatLength(v.duration_secs)})`;
    else if (s != null && (end - s < CLIP_MIN_SECS || end - s > CLIP_MAX_SECS)) problems.end = `a clip is ${CLIP_MIN_SECS} to ${CLIP_MAX_SECS} seconds long`;
    setErrors(problems);
    if (Object.keys(problems).length > 0 || s == null || end == null) return;
    create.mutate({ start: s, end, ...(form.title.trim() ? { title: form.title.trim() } : {}) });
  };
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <section className="clip-action" aria-label="Clip">
      {!open && (
        <button onClick={start} data-testid="clip-open">
          ✂ Clip
        </button>
      )}
      {made && (
        <p role="status">
          Clip created: <Link to={`/clip/${made.id}`}>open the clip</Link>
        </p>
      )}
      {open && (
        <form className="card clip-form" onSubmit={submit} noValidate aria-label="Make a clip">
          <p className="muted small">
            The times start around where you are in the video; a clip is {CLIP_MIN_SECS} to {CLIP_MAX_SECS} seconds long.
          </p>
          {errors.form && (
            <p className="form-error" role="alert">
              {errors.form}
            </p>
          )}
          <div className="row">
            <Field id="clip-start" label="From" error={errors.start}>
              <input id="clip-start" value={form.start} onChange={set('start')} aria-invalid={Boolean(errors.start)} inputMode="numeric" size={8} />
            </Field>
            <Field id="clip-end" label="To" error={errors.end}>
              <input id="clip-end" value={form.end} onChange={set('end')} aria-invalid={Boolean(errors.end)} inputMode="numeric" size={8} />
            </Field>
            <Field id="clip-title" label="Title (optional)" error={errors.title}>
              <input id="clip-title" value={form.title} onChange={set('title')} aria-invalid={Boolean(errors.title)} maxLength={140} />
            </Field>
          </div>
          <div className="row">
            <button className="primary" type="submit" disabled={create.isPending}>
              {create.isPending ? 'Creating…' : 'Create clip'}
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
