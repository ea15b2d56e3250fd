import { useEffect, useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { useChannels, thumbPath } from '../api/queries';
import type { ChannelDto } from '../api/generated/ChannelDto';
import { useMe } from '../api/session';
import { ErrorState, Loading, formatCount } from '../components/States';
import { FollowedStrip } from '../components/FollowedList';
import { formatAge } from '../format';

/** Sorted as a viewer expects: live first, then by viewers, then newest. */
export function sortChannels(items: ChannelDto[]): ChannelDto[] {
  return [...items].sort(
    (a, b) => Number(b.is_live) - Number(a.is_live) || b.viewer_count - a.viewer_count || b.id - a.id,
  );
}

export function Home() {
  const [params, setParams] = useSearchParams();
  const q = (params.get('q') ?? '').trim();
  const category = params.get('category') ?? '';
  // Browsing shows who is live; a search finds every channel (live ones first), offline ones
  // by their title, category or streamer's name too.
  const page = useChannels(q ? { q, category } : { live: true, category });
  // Only categories with results for this search; the selected one stays, to be unselected.
  const categories = useMemo(() => {
    const names = (page.data?.categories ?? []).map((c) => c.name);
    return category && !names.includes(category) ? [category, ...names] : names;
  }, [page.data, category]);
  const tick = useTick(10_000);
  const setCategory = (c: string) => {
    const next = new URLSearchParams(params);
    if (c) next.set('category', c);
    else next.delete('category');
    setParams(next);
  };
  const channels = sortChannels(page.data?.items ?? []);
  const filtered = Boolean(q || category);
  const me = useMe();
  const liveCount = channels.filter((c) => c.is_live).length;
  return (
    <div>
      {me && !filtered && <FollowedStrip />}
      <h1>{q ? `Channels matching “${q}”` : 'Live channels'}</h1>
      {q && page.isSuccess && channels.length > 0 && (
        <p className="muted" aria-live="polite">
          {channels.length === 1 ? '1 channel' : `${channels.length} channels`}
          {page.data.next_offset != null ? ' or more' : ''}: {liveCount} live, {channels.length - liveCount} offline
        </p>
      )}
      {categories.length > 0 && (
        <div className="chips" role="group" aria-label="Categories">
          <button className="chip" aria-pressed={!category} onClick={() => setCategory('')}>
            All
          </button>
          {categories.map((c) => (
            <button key={c} className="chip" aria-pressed={category === c} onClick={() => setCategory(c)}>
              {c}
            </button>
          ))}
        </div>
      )}
      {page.isPending ? (
        <Loading label="Loading channels" />
      ) : page.isError ? (
        <ErrorState error={page.error} retry={() => page.refetch()} />
      ) : channels.length === 0 ? (
        filtered ? (
          <div className="empty">
            <p>{q ? `No channel or streamer matches “${q}”${category ? ` in ${category}` : ''}.` : `Nobody is live in ${category} right now.`}</p>
            <Link to="/">Show every live channel</Link>
          </div>
        ) : (
          <EmptyState />
        )
      ) : (
        <ul className="grid" style={{ listStyle: 'none', padding: 0, margin: 0 }} aria-label={q ? 'Search results' : 'Live channels'}>
          {channels.map((c) => (
            <li key={c.id}>
              <ChannelCard channel={c} tick={tick} />
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function useTick(ms: number): number {
  const [t, setT] = useState(() => Math.floor(Date.now() / ms));
  useEffect(() => {
    const id = window.setInterval(() => setT(Math.floor(Date.now() / ms)), ms);
    return () => window.clearInterval(id);
  }, [ms]);
  return t;
}

export function ChannelCard({ channel: c, tick }: { channel: ChannelDto; tick: number }) {
  const streamer = c.owner.display_name || c.owner.username;
  const since = c.live?.started_at;
  const label = c.is_live
    ? `${c.title} by ${streamer}, live${since ? ` for ${formatAge(since)}` : ''}, ${c.viewer_count} ${c.viewer_count === 1 ? 'viewer' : 'viewers'}`
    : `${c.title} by ${streamer}, offline`;
  return (
    <Link to={`/c/${c.slug}`} className={`channel-card${c.is_live ? '' : ' is-offline'}`} aria-label={label}>
      <div className="thumb">
        <img src={thumbPath(c.slug, tick)} alt="" loading="lazy" width={320} height={180} />
        {c.is_live ? <span className="live-badge">Live</span> : <span className="offline-badge">Offline</span>}
        {c.is_live && <span className="viewers">{formatCount(c.viewer_count)} {c.viewer_count === 1 ? 'viewer' : 'viewers'}</span>}
      </div>
      <div className="card-meta">
        <span className="avatar" aria-hidden="true">
          {streamer.slice(0, 1)}
        </span>
        <div>
          <div className="title" title={c.title}>
            {c.title}
          </div>
          <div className="muted small">
            {streamer}
            {c.owner.display_name && c.owner.display_name !== c.owner.username && <span> · @{c.owner.username}</span>}
          </div>
          {c.is_live && since && <div className="muted small">Live for {formatAge(since)}</div>}
          {c.category && <span className="pill">{c.category}</span>}
        </div>
      </div>
    </Link>
  );
}

function EmptyState() {
  const me = useMe();
  const all = useChannels({});
  const offline = (all.data?.items ?? []).filter((c) => !c.is_live);
  return (
    <div className="empty card">
      <h2 style={{ marginTop: 0 }}>Nobody is live right now</h2>
      <p className="muted">When a channel goes live it shows up here, busiest first.</p>
      <h3>Go live yourself</h3>
      <ol>
        <li>{me ? 'Open the creator dashboard' : <><Link to="/register">Create an account</Link>, then open the creator dashboard</>}.</li>
        <li>Create a channel and copy its stream key (shown once).</li>
        <li>In OBS: Settings → Stream → Service “Custom”, paste the server and the key.</li>
        <li>Start streaming: your channel appears here within seconds.</li>
      </ol>
      <p>
        <Link className="button primary" to={me ? '/dashboard' : '/register'}>
          {me ? 'Open the dashboard' : 'Sign up to stream'}
        </Link>
      </p>
      {offline.length > 0 && (
        <>
          <h3>Offline channels</h3>
          <p>
            {offline.slice(0, 12).map((c, i) => (
              <span key={c.id}>
                {i > 0 && ' · '}
                <Link to={`/c/${c.slug}`}>{c.title}</Link>
              </span>
            ))}
          </p>
        </>
      )}
    </div>
  );
}
