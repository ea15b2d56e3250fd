// A channel's Videos and Clips tabs (/c/:slug/videos, /c/:slug/clips): its recorded broadcasts
// and clips, newest first, a page at a time with "Load more"; and the tab bar the live page
// shares with them. A channel that is not public shows its thumbnails with a playback token
// (see `useMediaAccess`), or a lock where the viewer has none.
import { Link, NavLink } from 'react-router-dom';
import type { ChannelDto } from '../api/generated/ChannelDto';
import { useAuthedUrl } from '../api/authed';
import { PUBLIC_MEDIA, useMediaAccess, withToken, type MediaAccess } from '../api/playback';
import { useMe } from '../api/session';
import { localPath, useChannelClips, useChannelVideos } from '../api/videos';
import type { ClipDto } from '../api/generated/ClipDto';
import type { VideoDto } from '../api/generated/VideoDto';
import { ErrorState, Loading, formatCount, timeAgo } from '../components/States';
import { FollowButton } from '../components/FollowButton';
import { formatLength } from '../player/chapters';

export type ChannelTab = 'live' | 'videos' | 'clips';

/** Live, Videos and Clips of a channel, as links (each tab has its own address). */
export function ChannelTabs({ slug }: { slug: string }) {
  const base = `/c/${encodeURIComponent(slug)}`;
  return (
    <nav className="channel-tabs" aria-label="Channel">
      <NavLink to={base} end>
        Live
      </NavLink>
      <NavLink to={`${base}/videos`}>Videos</NavLink>
      <NavLink to={`${base}/clips`}>Clips</NavLink>
    </nav>
  );
}

/** The channel's header and the list of its videos or clips. */
export function ChannelLists({ channel: c, tab }: { channel: ChannelDto; tab: 'videos' | 'clips' }) {
  const name = c.owner.display_name || c.owner.username;
  const access = useMediaAccess(c.slug, c.visibility, useMe() != null);
  return (
    <div className="channel-lists">
      <div className="row channel-head">
        <span className="avatar" style={{ width: 48, height: 48, fontSize: '1.2rem' }} aria-hidden="true">
          {c.owner.username.slice(0, 1)}
        </span>
        <div className="grow" style={{ minWidth: 0 }}>
          <div className="row">
            <h1 style={{ margin: 0 }}>{name}</h1>
            {c.is_live && (
              <Link to={`/c/${c.slug}`} className="live-badge">
                Live
              </Link>
            )}
          </div>
          <div className="muted small">{c.title}</div>
        </div>
        <FollowButton slug={c.slug} name={name} ownerId={c.owner.id} followers={c.followers} />
      </div>
      <ChannelTabs slug={c.slug} />
      {access.state === 'locked' && (
        <p className="muted small" role="status" data-testid="media-locked">
          {c.visibility === 'followers' ? `Previews show to ${name}’s followers.` : 'Previews show once you enter the channel’s password on its page or a video’s page.'}
        </p>
      )}
      {tab === 'videos' ? <VideoList slug={c.slug} name={name} access={access} /> : <ClipList slug={c.slug} name={name} access={access} />}
    </div>
  );
}

function VideoList({ slug, name, access }: { slug: string; name: string; access: MediaAccess }) {
  const q = useChannelVideos(slug);
  if (q.isPending) return <Loading label="Loading videos" />;
  // A failed "Load more" keeps the pages already shown.
  if (!q.data) return <ErrorState error={q.error} retry={() => q.refetch()} />;
  const items = q.data.pages.flatMap((p) => p.items);
  if (items.length === 0) {
    return (
      <div className="empty">
        <p className="muted">{name} has no videos yet: broadcasts are recorded and appear here after they end.</p>
      </div>
    );
  }
  return (
    <>
      <ul className="grid plain" aria-label="Videos">
        {items.map((v) => (
          <li key={v.id}>
            <VideoCard v={v} access={access} />
          </li>
        ))}
      </ul>
      <More hasMore={q.hasNextPage} loading={q.isFetchingNextPage} error={q.isFetchNextPageError ? q.error : null} onMore={() => q.fetchNextPage()} />
    </>
  );
}

function ClipList({ slug, name, access }: { slug: string; name: string; access: MediaAccess }) {
  const q = useChannelClips(slug);
  if (q.isPending) return <Loading label="Loading clips" />;
  // A failed "Load more" keeps the pages already shown.
  if (!q.data) return <ErrorState error={q.error} retry={() => q.refetch()} />;
  const items = q.data.pages.flatMap((p) => p.items);
  if (items.length === 0) {
    return (
      <div className="empty">
        <p className="muted">No clips of {name} yet. Signed-in viewers can clip the live stream or a video.</p>
      </div>
    );
  }
  return (
    <>
      <ul className="grid plain" aria-label="Clips">
        {items.map((c) => (
          <li key={c.id}>
            <ClipCard c={c} access={access} />
          </li>
        ))}
      </ul>
      <More hasMore={q.hasNextPage} loading={q.isFetchingNextPage} error={q.isFetchNextPageError ? q.error : null} onMore={() => q.fetchNextPage()} />
    </>
  );
}

function More({ hasMore, loading, error, onMore }: { hasMore: boolean; loading: boolean; error: unknown; onMore: () => void }) {
  if (!hasMore) return null;
  return (
    <div className="load-more">
      {error != null && <ErrorState error={error} />}
      <button onClick={onMore} disabled={loading}>
        {loading ? 'Loading…' : 'Load more'}
      </button>
    </div>
  );
}

const STATUS_WORDS: Record<VideoDto['status'], string> = {
  recording: 'Recording',
  processing: 'Processing',
  ready: '',
  failed: 'Failed',
};

function VideoCard({ v, access }: { v: VideoDto; access: MediaAccess }) {
  const views = `${formatCount(v.view_count)} ${v.view_count === 1 ? 'view' : 'views'}`;
  const state = STATUS_WORDS[v.status];
  const label = `${v.title}, ${state ? state.toLowerCase() : formatLength(v.duration_secs)}, ${views}, ${timeAgo(v.created_at)}`;
  return (
    <Link to={`/v/${v.id}`} className="channel-card" aria-label={label} data-video-id={v.id}>
      <div className="thumb">
        <VideoThumb video={v} width={320} height={180} access={access} />
        {state ? (
          <span className={`offline-badge${v.status === 'failed' ? ' bad' : ''}`}>{state}</span>
        ) : (
          <span className="duration" data-testid="video-duration">
            {formatLength(v.duration_secs)}
          </span>
        )}
        {v.takedown ? (
          <span className="visibility" title={v.takedown.notice}>
            Taken down
          </span>
        ) : (
          v.visibility !== 'public' && <span className="visibility">{v.visibility === 'private' ? 'Private' : 'Unlisted'}</span>
        )}
      </div>
      <div className="card-meta">
        <div>
          <div className="title" title={v.title}>
            {v.title}
          </div>
          <div className="muted small">
            {views} · <span title={new Date(v.created_at).toLocaleString()}>{timeAgo(v.created_at)}</span>
          </div>
        </div>
      </div>
    </Link>
  );
}

/**
 * A video's thumbnail (a private one's fetched with the access token; one of a channel that is
 * not public with its playback token), a lock without that token, or a blank.
 */
export function VideoThumb({ video: v, width, height, access = PUBLIC_MEDIA }: { video: VideoDto; width: number; height: number; access?: MediaAccess }) {
  const url = v.thumbnail_url ? localPath(v.thumbnail_url) : null;
  const isPrivate = v.visibility === 'private';
  const authed = useAuthedUrl(url, isPrivate);
  return <Thumb url={isPrivate ? authed : url} access={isPrivate ? PUBLIC_MEDIA : access} width={width} height={height} />;
}

/** A thumbnail image with the channel's token, a lock, or a blank. */
function Thumb({ url, access, width, height }: { url: string | null; access: MediaAccess; width: number; height: number }) {
  if (access.state === 'locked') {
    return (
      <div className="no-thumb locked" role="img" aria-label="Locked" data-testid="thumb-locked">
        <svg viewBox="0 0 24 24" aria-hidden="true" width={28} height={28}>
          <path d="M12 2a5 5 0 0 0-5 5v3H6a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-8a2 2 0 0 0-2-2h-1V7a5 5 0 0 0-5-5zm-3 8V7a3 3 0 0 1 6 0v3H9z" />
        </svg>
      </div>
    );
  }
  if (!url || access.state === 'checking') return <div className="no-thumb" />;
  return <img src={withToken(url, access.token)} alt="" loading="lazy" width={width} height={height} />;
}

function ClipCard({ c, access }: { c: ClipDto; access: MediaAccess }) {
  const views = `${formatCount(c.view_count)} ${c.view_count === 1 ? 'view' : 'views'}`;
  const processing = c.status !== 'ready';
  return (
    <Link to={`/clip/${c.id}`} className="channel-card" aria-label={`${c.title}, clipped by ${c.author_name}, ${processing ? c.status : formatLength(c.duration_secs)}, ${views}`}>
      <div className="thumb">
        <Thumb url={c.thumbnail_url ? localPath(c.thumbnail_url) : null} access={access} width={320} height={180} />
        {processing ? (
          <span className={`offline-badge${c.status === 'failed' ? ' bad' : ''}`}>{c.status === 'failed' ? 'Failed' : 'Processing'}</span>
        ) : (
          <span className="duration">{formatLength(c.duration_secs)}</span>
        )}
      </div>
      <div className="card-meta">
        <div>
          <div className="title" title={c.title}>
            {c.title}
          </div>
          <div className="muted small">
            Clipped by {c.author_name} · {views} · {timeAgo(c.created_at)}
          </div>
        </div>
      </div>
    </Link>
  );
}
