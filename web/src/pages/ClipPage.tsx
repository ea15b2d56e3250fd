// A clip at /clip/:id: its MP4 in a <video> once cut, progress words while it is being cut
// (the clip is polled every second), the reason when cutting failed; title, channel, author,
// length, a copy-link button, and Delete for those who may. A clip of a channel that is not
// public shows the channel's gate first, then plays with its playback token.
import { useEffect, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError, api, errorMessage } from '../api/client';
import { clipPath, localPath, useClip, videoKeys } from '../api/videos';
import type { ClipDto } from '../api/generated/ClipDto';
import { Confirm, ErrorState, GoneState, Loading, formatCount, timeAgo } from '../components/States';
import { ReportButton } from '../components/ReportDialog';
import { useToast } from '../components/Toasts';
import { formatLength } from '../player/chapters';
import { PlaybackGate } from '../player/PlaybackGate';
import { usePlaybackToken, withToken } from '../api/playback';
import { useChannel } from '../api/queries';
import { useMe } from '../api/session';
import { NotFound } from './Static';
import { TakedownNotice, takenDownNotice } from './Dmca';

export function ClipPage() {
  const { id = '' } = useParams();
  const clip = useClip(id);
  const c = clip.data;
  useEffect(() => {
    document.title = c ? `${c.title} – clip · streamhall` : 'streamhall';
    return () => {
      document.title = 'streamhall';
    };
  }, [c]);
  if (clip.isPending) return <Loading label="Loading the clip" />;
  if (!c) {
    if (clip.error instanceof ApiError && clip.error.status === 404) return <NotFound what="clip" />;
    const gone = takenDownNotice(clip.error);
    if (gone) return <TakedownNotice notice={gone} />;
    if (clip.error instanceof ApiError && clip.error.status === 410) return <GoneState error={clip.error} what="clip" />;
    return <ErrorState error={clip.error} retry={() => clip.refetch()} />;
  }
  return (
    <div className="vod-page">
      {c.takedown ? (
        <TakedownNotice notice={c.takedown.notice} takedown={c.takedown} />
      ) : c.status === 'ready' ? (
        <ClipPlayer clip={c} />
      ) : (
        <ClipProgress clip={c} />
      )}
      <div className="vod-info">
        <h1 className="title">{c.title}</h1>
        <div className="row muted small">
          <Link to={`/c/${c.channel_slug}`}>
            <strong>/{c.channel_slug}</strong>
          </Link>
          <span>Clipped by {c.author_name}</span>
          <span title={new Date(c.created_at).toLocaleString()}>{timeAgo(c.created_at)}</span>
          {c.status === 'ready' && <span data-testid="clip-duration">{formatLength(c.duration_secs)}</span>}
          <span>
            {formatCount(c.view_count)} {c.view_count === 1 ? 'view' : 'views'}
          </span>
          {c.video_id && <Link to={`/v/${c.video_id}`}>From the full video</Link>}
        </div>
        <ClipActions clip={c} />
      </div>
    </div>
  );
}

/** The clip's MP4, behind its channel's gate. */
function ClipPlayer({ clip: c }: { clip: ClipDto }) {
  const me = useMe();
  const channel = useChannel(c.channel_slug);
  const access = usePlaybackToken(c.channel_slug, channel.data?.visibility ?? null, me != null);
  // The first token stays in the URL: a new one would reload the video (a clip is at most a
  // minute long, so it is read well within the token's life).
  const [first, setFirst] = useState<string | null>(null);
  if (access.token && first == null) setFirst(access.token);
  if (channel.isPending || (access.needsToken && !first)) {
    return (
      <PlaybackGate gate={channel.isPending ? { kind: 'checking' } : access.gate} name={`/${c.channel_slug}`} submitting={access.submitting} onPassword={(pw) => void access.submit(pw)} />
    );
  }
  return (
    <div className="player clip-player">
      <video src={withToken(localPath(c.mp4_url), first)} controls autoPlay playsInline aria-label={c.title} data-testid="clip-video" />
    </div>
  );
}

/** Cutting: how long it has taken so far; failed: why. */
function ClipProgress({ clip: c }: { clip: ClipDto }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (c.status !== 'processing') return;
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(t);
  }, [c.status]);
  if (c.status === 'failed') {
    return (
      <div className="offline" role="alert" data-status="failed">
        <div>
          <span className="pill bad">Failed</span>
          <h2>This clip could not be made</h2>
          <p className="muted">{c.error ?? 'Cutting the video failed.'}</p>
        </div>
      </div>
    );
  }
  const waited = Math.max(0, Math.round((now - new Date(c.created_at).getTime()) / 1000));
  return (
    <div className="offline" role="status" data-status="processing">
      <div>
        <span className="pill warn">Processing</span>
        <h2>Making the clip…</h2>
        <div className="spinner" aria-hidden="true" />
        <p className="muted">
          {waited < 5 ? 'Cutting the video. This takes a few seconds.' : `Still cutting the video (${waited} s so far). It plays here as soon as it is ready.`}
        </p>
      </div>
    </div>
  );
}

function ClipActions({ clip: c }: { clip: ClipDto }) {
  const toast = useToast();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [confirm, setConfirm] = useState(false);
  const del = useMutation({
    mutationFn: () => api<void>(clipPath(c.id), { method: 'DELETE' }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: videoKeys.channelClips(c.channel_slug) });
      qc.removeQueries({ queryKey: videoKeys.clip(c.id) });
      toast.show('Clip deleted', 'success');
      navigate(`/c/${c.channel_slug}/clips`);
    },
  });
  const copy = async () => {
    const url = `${location.origin}/clip/${c.id}`;
    try {
      await navigator.clipboard.writeText(url);
      toast.show('Link copied', 'success');
    } catch {
      toast.show(`Copy this link: ${url}`);
    }
  };
  return (
    <div className="row" style={{ marginTop: 12 }}>
      <button onClick={copy}>Copy link</button>
      <ReportButton className="" target={{ kind: 'clip', target: c.id, label: 'this clip' }} />
      {c.can_delete && (
        <button className="danger" onClick={() => setConfirm(true)} disabled={del.isPending}>
          Delete clip…
        </button>
      )}
      {del.isError && (
        <span className="error" role="alert">
          {errorMessage(del.error)}
        </span>
      )}
      {confirm && (
        <Confirm
          title="Delete this clip?"
          confirmLabel="Delete"
          danger
          onCancel={() => setConfirm(false)}
          onConfirm={() => {
            setConfirm(false);
            del.mutate();
          }}
        >
          <p>“{c.title}” is removed for everyone. This cannot be undone.</p>
        </Confirm>
      )}
    </div>
  );
}
