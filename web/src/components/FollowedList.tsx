import { Link } from 'react-router-dom';
import type { FollowedChannel } from '../api/generated/FollowedChannel';
import { useFollowing } from '../api/queries';
import { formatCount } from './States';

/** A compact list: avatar, name, what is on, and a live dot with the viewer count. */
export function FollowedList({ items, label }: { items: FollowedChannel[]; label: string }) {
  return (
    <ul className="followed-list" aria-label={label}>
      {items.map(({ channel: c, muted }) => {
        const name = c.owner.display_name || c.owner.username;
        return (
          <li key={c.id}>
            <Link
              to={`/c/${c.slug}`}
              className="followed"
              aria-label={`${name}${c.is_live ? `, live, ${c.viewer_count} ${c.viewer_count === 1 ? 'viewer' : 'viewers'}: ${c.title}` : ', offline'}`}
            >
              <span className="avatar" aria-hidden="true">
                {c.owner.username.slice(0, 1)}
              </span>
              <span className="followed-text">
                <strong className="ellipsis">{name}</strong>
                <span className="muted small ellipsis">{c.is_live ? c.category || c.title : muted ? 'Offline · notifications off' : 'Offline'}</span>
              </span>
              {c.is_live && (
                <span className="followed-live small" aria-hidden="true">
                  <span className="live-dot" /> {formatCount(c.viewer_count)}
                </span>
              )}
            </Link>
          </li>
        );
      })}
    </ul>
  );
}

/** On the home page for signed-in viewers: the followed channels, live first. */
export function FollowedStrip() {
  const following = useFollowing(true);
  const items = following.data ?? [];
  if (following.isPending || following.isError || items.length === 0) return null;
  const live = items.filter((f) => f.channel.is_live).length;
  return (
    <section className="followed-strip" aria-labelledby="followed-h">
      <div className="row">
        <h2 id="followed-h" className="grow" style={{ margin: 0 }}>
          Followed channels <span className="muted small">{live} live</span>
        </h2>
        <Link to="/following" className="small">
          See all
        </Link>
      </div>
      <FollowedList items={items.slice(0, 8)} label="Followed channels" />
    </section>
  );
}
