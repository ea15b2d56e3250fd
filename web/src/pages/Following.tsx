import { Link } from 'react-router-dom';
import { useFollowing } from '../api/queries';
import { FollowedList } from '../components/FollowedList';
import { RequireAuth } from '../components/RequireAuth';
import { ErrorState, Loading } from '../components/States';
import { ChannelCard, useTick } from './Home';

export function Following() {
  return (
    <RequireAuth>
      <FollowingInner />
    </RequireAuth>
  );
}

function FollowingInner() {
  const following = useFollowing(true);
  const tick = useTick(10_000);
  const all = following.data ?? [];
  const live = all.filter((f) => f.channel.is_live);
  const offline = all.filter((f) => !f.channel.is_live);
  return (
    <div>
      <h1>Following</h1>
      {following.isPending ? (
        <Loading label="Loading the channels you follow" />
      ) : following.isError ? (
        <ErrorState error={following.error} retry={() => following.refetch()} />
      ) : all.length === 0 ? (
        <div className="empty card">
          <h2 style={{ marginTop: 0 }}>You do not follow any channel yet</h2>
          <p className="muted">Press Follow on a channel's page to find it here and to hear when it goes live.</p>
          <Link className="button primary" to="/">
            Browse live channels
          </Link>
        </div>
      ) : (
        <>
          <h2>Live now</h2>
          {live.length === 0 ? (
            <p className="muted">None of the channels you follow is live.</p>
          ) : (
            <ul className="grid plain" aria-label="Followed channels live now">
              {live.map((f) => (
                <li key={f.channel.id}>
                  <ChannelCard channel={f.channel} tick={tick} />
                </li>
              ))}
            </ul>
          )}
          {offline.length > 0 && (
            <>
              <h2>Offline</h2>
              <FollowedList items={offline} label="Followed channels offline" />
            </>
          )}
          <p className="small muted">
            Choose which channels notify you in <Link to="/settings#notifications">notification settings</Link>.
          </p>
        </>
      )}
    </div>
  );
}
