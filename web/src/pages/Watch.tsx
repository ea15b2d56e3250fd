import { useCallback, useEffect, useState, type CSSProperties } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useMutation, useQuery } from '@tanstack/react-query';
import { ApiError, api, errorMessage } from '../api/client';
import type { BroadcastDto } from '../api/generated/BroadcastDto';
import { hlsPath, useChannel, useFollowState } from '../api/queries';
import { useMe } from '../api/session';
import { ChatPanel } from '../chat/ChatPanel';
import { Player } from '../player/Player';
import { PlaybackGate } from '../player/PlaybackGate';
import { usePlaybackToken } from '../api/playback';
import { ErrorState, Loading, formatCount, timeAgo, duration } from '../components/States';
import { formatDuration } from '../format';
import { FollowButton } from '../components/FollowButton';
import { ReportButton } from '../components/ReportDialog';
import { useVisibleArea } from '../components/useVisualViewport';
import { useToast } from '../components/Toasts';
import { liveClipPath, localPath } from '../api/videos';
import type { ClipDto } from '../api/generated/ClipDto';
import type { CreateLiveClip } from '../api/generated/CreateLiveClip';
import { ChannelLists, ChannelTabs, type ChannelTab } from './ChannelVideos';
import { NotFound } from './Static';

/** The top bar's height (styles.css `.topbar`): the phone layout fills the screen below it. */
const TOPBAR = 54;

/** Seconds of the live stream a Clip button takes (the last ones). */
const LIVE_CLIP_SECS = 30;

/** A channel's page: the live player and chat, or (`tab`) its videos or clips. */
export function Watch({ tab = 'live' }: { tab?: ChannelTab }) {
  const { slug = '' } = useParams();
  const channel = useChannel(slug);
  const [viewers, setViewers] = useState<number | null>(null);
  const onViewers = useCallback((n: number) => setViewers(n), []);
  const area = useVisibleArea(TOPBAR);
  // Low latency unless the viewer chose "normal" (it then gets the DVR window and more buffer).
  const [lowLatency, setLowLatency] = useState(() => localStorage.getItem('streamhall.latency') !== 'normal');
  const chooseLatency = useCallback((low: boolean) => {
    localStorage.setItem('streamhall.latency', low ? 'low' : 'normal');
    setLowLatency(low);
  }, []);
  const c = channel.data;
  const me = useMe();
  // Following from the followers-only notice asks for a token again.
  const follow = useFollowState(slug, me != null && c?.visibility === 'followers');
  const access = usePlaybackToken(slug, c?.visibility ?? null, me != null, follow.data?.following ? 1 : 0);
  const { refetch } = channel;
  const refresh = useCallback(() => void refetch(), [refetch]);
  useEffect(() => {
    document.title = c ? `${c.owner.username} – ${c.title} · streamhall` : 'streamhall';
    return () => {
      document.title = 'streamhall';
    };
  }, [c]);
  if (channel.isPending) return <Loading label="Loading the channel" />;
  if (!c) {
    if (channel.error instanceof ApiError && channel.error.status === 404) return <NotFound what="channel" />;
    return (
      <div style={{ padding: 20 }}>
        <ErrorState error={channel.error} retry={() => channel.refetch()} />
      </div>
    );
  }
  if (tab !== 'live') return <ChannelLists channel={c} tab={tab} />;
  const status = c.stream_status;
  const live = status === 'live';
  const count = viewers ?? c.viewer_count;
  const name = c.owner.display_name || c.owner.username;
  // A poll that failed while the page has the channel: the player says so and retries.
  const apiError = channel.isRefetchError ? errorMessage(channel.error) : null;
  const llUrl = live ? (c.live?.low_latency_url ?? null) : null;
  const ll = lowLatency ? llUrl : null;
  const dvr = live && !ll ? (c.live?.dvr_url ?? null) : null;
  const style = area ? ({ '--watch-top': `${area.top}px`, '--watch-height': `${area.height}px` } as CSSProperties) : undefined;
  return (
    <div className={`watch${area?.keyboard ? ' keyboard-open' : ''}`} style={style}>
      <div className="watch-main">
        {access.needsToken && !access.token ? (
          <PlaybackGate
            gate={access.gate}
            name={name}
            submitting={access.submitting}
            onPassword={(pw) => void access.submit(pw)}
            follow={<FollowButton slug={slug} name={name} ownerId={c.owner.id} followers={c.followers} />}
          />
        ) : (
        <Player
          key={slug}
          token={access.token}
          src={ll ? localPath(ll) : dvr ? localPath(dvr) : hlsPath(slug)}
          dvr={dvr != null}
          lowLatency={ll != null}
          latency={llUrl ? { low: lowLatency, choose: chooseLatency } : undefined}
          actions={<LiveClipButton slug={slug} />}
          title={c.title}
          name={name}
          status={status}
          problem={c.stream_problem}
          apiError={apiError}
          refresh={refresh}
          offline={(ended) => <Offline slug={slug} name={name} ownerId={c.owner.id} ended={ended} />}
        />
        )}
        <div className="watch-info">
          <span className="avatar" style={{ width: 48, height: 48, fontSize: '1.2rem' }} aria-hidden="true">
            {c.owner.username.slice(0, 1)}
          </span>
          <div className="grow" style={{ minWidth: 0 }}>
            <div className="row">
              <strong style={{ fontSize: '1.05rem' }}>{name}</strong>
              {live && <span className="live-badge">Live</span>}
              {status === 'starting' && <span className="pill warn">Starting</span>}
              <FollowButton slug={slug} name={name} ownerId={c.owner.id} followers={c.followers} />
              <ReportButton target={{ kind: 'channel', target: slug, label: `the channel ${name}` }} />
            </div>
            <h1 className="title">{c.title}</h1>
            <div className="row muted small">
              {c.category && <span className="pill">{c.category}</span>}
              {live && (
                <span aria-live="polite">
                  <strong data-testid="viewer-count">{formatCount(count)}</strong> {count === 1 ? 'viewer' : 'viewers'}
                </span>
              )}
              {live && c.live && <Uptime since={c.live.started_at} />}
            </div>
            {c.description && <p className="muted description">{c.description}</p>}
            <ChannelTabs slug={slug} />
          </div>
        </div>
      </div>
      {access.needsToken && !access.token ? (
        <aside className="chat chat-gated" aria-label="Chat">
          <p className="muted" style={{ padding: 16 }}>
            The chat opens once you can watch.
          </p>
        </aside>
      ) : (
        <ChatPanel slug={slug} onViewers={onViewers} playbackToken={access.token} />
      )}
    </div>
  );
}

/** Clips the last 30 s of the stream (signed-in viewers) and offers a link to the clip. */
function LiveClipButton({ slug }: { slug: string }) {
  const me = useMe();
  const toast = useToast();
  const clip = useMutation({
    mutationFn: () => api<ClipDto>(liveClipPath(slug), { method: 'POST', body: { seconds: LIVE_CLIP_SECS } satisfies CreateLiveClip }),
    onSuccess: (c) => toast.show('Clip of the last 30 seconds on its way.', 'success', { to: `/clip/${c.id}`, label: 'Open the clip' }),
    onError: (e) => toast.show(`Could not clip: ${errorMessage(e)}`, 'error'),
  });
  if (!me) return null;
  return (
    <button onClick={() => clip.mutate()} disabled={clip.isPending} aria-label="Clip the last 30 seconds" title="Clip the last 30 seconds">
      <span aria-hidden="true">✂</span> <span className="hide-phone">{clip.isPending ? 'Clipping…' : 'Clip'}</span>
    </button>
  );
}

function Uptime({ since }: { since: string }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(id);
  }, []);
  return <span title="Live for">{duration((now - new Date(since).getTime()) / 1000)}</span>;
}

function Offline({ slug, name, ownerId, ended }: { slug: string; name: string; ownerId: number; ended: boolean }) {
  const me = useMe();
  const own = me?.id === ownerId;
  const follow = useFollowState(slug, me != null && !own);
  const last = useQuery({
    queryKey: ['broadcasts', slug, ended],
    queryFn: () => api<BroadcastDto[]>(`/channels/${encodeURIComponent(slug)}/broadcasts`, { auth: false }),
  });
  const b = last.data?.find((x) => x.ended_at != null);
  // Where the next live will reach this viewer: a notification for followers, else an invitation.
  const hint = own
    ? 'Start streaming in OBS and this page plays it.'
    : follow.data?.following
      ? `You follow ${name}: you will be notified when they go live.`
      : `Follow ${name} to be notified when they go live.`;
  return (
    <div className="offline" role="status" data-phase={ended ? 'ended' : 'offline'}>
      <div>
        <span className="pill">Offline</span>
        {ended && <p className="ended-note">The broadcast has ended.</p>}
        <h2>{name} is offline</h2>
        {last.isPending ? null : b ? (
          <p className="muted">
            Last live {timeAgo(b.ended_at!)}: “{b.title}” for {formatDuration((new Date(b.ended_at!).getTime() - new Date(b.started_at).getTime()) / 1000)}
            {b.peak_viewers > 0 ? `, up to ${b.peak_viewers} viewers` : ''}.
          </p>
        ) : (
          <p className="muted">This channel has not streamed yet.</p>
        )}
        {(me == null || !follow.isPending || own) && <p className="muted small" data-testid="next-live-hint">{hint}</p>}
        <p>
          <Link to="/">Browse live channels</Link>
        </p>
      </div>
    </div>
  );
}
