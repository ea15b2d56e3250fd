import { useCallback, useEffect, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, api } from '../api/client';
import type { BroadcastDto } from '../api/generated/BroadcastDto';
import { hlsPath, keys, useChannel } from '../api/queries';
import { ChatPanel } from '../chat/ChatPanel';
import { Player } from '../player/Player';
import { ErrorState, Loading, formatCount, timeAgo, duration } from '../components/States';
import { FollowButton } from '../components/FollowButton';
import { NotFound } from './Static';

export function Watch() {
  const { slug = '' } = useParams();
  const channel = useChannel(slug);
  const qc = useQueryClient();
  const [viewers, setViewers] = useState<number | null>(null);
  const onViewers = useCallback((n: number) => setViewers(n), []);
  const c = channel.data;
  useEffect(() => {
    document.title = c ? `${c.owner.username} – ${c.title} · streamhall` : 'streamhall';
    return () => {
      document.title = 'streamhall';
    };
  }, [c]);
  if (channel.isPending) return <Loading label="Loading the channel" />;
  if (channel.isError) {
    if (channel.error instanceof ApiError && channel.error.status === 404) return <NotFound what="channel" />;
    return (
      <div style={{ padding: 20 }}>
        <ErrorState error={channel.error} retry={() => channel.refetch()} />
      </div>
    );
  }
  const live = c!.is_live && c!.live != null;
  const count = viewers ?? c!.viewer_count;
  return (
    <div className="watch">
      <div className="watch-main">
        {live ? (
          <Player
            key={c!.live!.broadcast_id}
            src={hlsPath(slug)}
            title={c!.title}
            onEnded={() => qc.invalidateQueries({ queryKey: keys.channel(slug) })}
          />
        ) : (
          <Offline slug={slug} name={c!.owner.display_name || c!.owner.username} />
        )}
        <div className="watch-info">
          <span className="avatar" style={{ width: 48, height: 48, fontSize: '1.2rem' }} aria-hidden="true">
            {c!.owner.username.slice(0, 1)}
          </span>
          <div className="grow" style={{ minWidth: 0 }}>
            <div className="row">
              <strong style={{ fontSize: '1.05rem' }}>{c!.owner.display_name || c!.owner.username}</strong>
              {live && <span className="live-badge">Live</span>}
              <FollowButton slug={slug} name={c!.owner.display_name || c!.owner.username} ownerId={c!.owner.id} followers={c!.followers} />
            </div>
            <h1 className="title">{c!.title}</h1>
            <div className="row muted small">
              {c!.category && <span className="pill">{c!.category}</span>}
              {live && (
                <span aria-live="polite">
                  <strong data-testid="viewer-count">{formatCount(count)}</strong> {count === 1 ? 'viewer' : 'viewers'}
                </span>
              )}
              {live && c!.live && <Uptime since={c!.live.started_at} />}
            </div>
            {c!.description && <p className="muted">{c!.description}</p>}
          </div>
        </div>
      </div>
      <ChatPanel slug={slug} onViewers={onViewers} />
    </div>
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

function Offline({ slug, name }: { slug: string; name: string }) {
  const last = useQuery({
    queryKey: ['broadcasts', slug],
    queryFn: () => api<BroadcastDto[]>(`/channels/${encodeURIComponent(slug)}/broadcasts`, { auth: false }),
  });
  const b = last.data?.find((x) => x.ended_at != null);
  return (
    <div className="offline" role="status">
      <div>
        <span className="pill">Offline</span>
        <h2>{name} is offline</h2>
        {last.isPending ? null : b ? (
          <p className="muted">
            Last live {timeAgo(b.ended_at!)}: “{b.title}” for {duration((new Date(b.ended_at!).getTime() - new Date(b.started_at).getTime()) / 1000)}
            {b.peak_viewers > 0 ? `, up to ${b.peak_viewers} viewers` : ''}.
          </p>
        ) : (
          <p className="muted">This channel has not streamed yet.</p>
        )}
        <p>
          <Link to="/">Browse live channels</Link>
        </p>
      </div>
    </div>
  );
}
