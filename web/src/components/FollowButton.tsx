import { useLocation, useNavigate } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { FollowState } from '../api/generated/FollowState';
import { followPath, keys, useFollowState } from '../api/queries';
import { useMe } from '../api/session';
import { formatCount } from './States';
import { useToast } from './Toasts';

export type FollowView = {
  /** What clicking does. */
  action: 'login' | 'follow' | 'unfollow' | 'none';
  /** The visible text (and, on hover or focus for `unfollow`, "Unfollow"). */
  text: 'Follow' | 'Following';
  busy: boolean;
};

/** The button's state: signed out → log in first; loading → disabled; else follow or unfollow. */
export function followView(signedIn: boolean, state: FollowState | undefined, pending: boolean): FollowView {
  if (!signedIn) return { action: 'login', text: 'Follow', busy: false };
  if (!state) return { action: 'none', text: 'Follow', busy: true };
  return { action: state.following ? 'unfollow' : 'follow', text: state.following ? 'Following' : 'Follow', busy: pending };
}

const Heart = ({ filled }: { filled: boolean }) => (
  <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
    <path
      fill="currentColor"
      d={
        filled
          ? 'M12 21s-7.5-4.6-10-9.3C.4 8.5 2.2 4 6.4 4c2.3 0 3.8 1.3 5.6 3.3C13.8 5.3 15.3 4 17.6 4 21.8 4 23.6 8.5 22 11.7 19.5 16.4 12 21 12 21z'
          : 'M12 21s-7.5-4.6-10-9.3C.4 8.5 2.2 4 6.4 4c2.3 0 3.8 1.3 5.6 3.3C13.8 5.3 15.3 4 17.6 4 21.8 4 23.6 8.5 22 11.7 19.5 16.4 12 21 12 21zm0-2.4c2.4-1.6 6.3-4.7 8.1-7.8 1-2-.1-4.8-2.5-4.8-1.6 0-2.6 1-4.4 3l-1.2 1.4-1.2-1.4C9 7 8 6 6.4 6 4 6 2.9 8.8 3.9 10.8c1.8 3.1 5.7 6.2 8.1 7.8z'
      }
    />
  </svg>
);

/**
 * Follow / Following beside a channel's name, with its follower count. Following shows
 * "Unfollow" on hover and focus (as Twitch does); signed-out visitors go to the login page and
 * come back here.
 */
export function FollowButton({ slug, name, ownerId, followers }: { slug: string; name: string; ownerId?: number; followers?: number }) {
  const me = useMe();
  const navigate = useNavigate();
  const location = useLocation();
  const qc = useQueryClient();
  const toast = useToast();
  const own = me !== null && me.id === ownerId;
  const state = useFollowState(slug, me !== null && !own);
  const mutation = useMutation({
    mutationFn: (follow: boolean) => api<FollowState>(followPath(slug), { method: follow ? 'POST' : 'DELETE', auth: true }),
    onMutate: (follow) => {
      const before = qc.getQueryData<FollowState>(keys.follow(slug));
      if (before) {
        qc.setQueryData<FollowState>(keys.follow(slug), {
          following: follow,
          followed_at: follow ? new Date().toISOString() : null,
          followers: Math.max(0, before.followers + (follow === before.following ? 0 : follow ? 1 : -1)),
        });
      }
      return { before };
    },
    onSuccess: (s, follow) => {
      qc.setQueryData(keys.follow(slug), s);
      qc.invalidateQueries({ queryKey: keys.following });
      toast.show(follow ? `Following ${name}: you will be notified when they go live` : `Unfollowed ${name}`, 'success');
    },
    onError: (e, _follow, ctx) => {
      if (ctx?.before) qc.setQueryData(keys.follow(slug), ctx.before);
      toast.show(errorMessage(e), 'error');
    },
  });
  const view = followView(me !== null, state.data, mutation.isPending);
  const count = state.data?.followers ?? followers;
  const click = () => {
    if (view.action === 'login') navigate('/login', { state: { from: location.pathname + location.search } });
    else if (view.action === 'follow') mutation.mutate(true);
    else if (view.action === 'unfollow') mutation.mutate(false);
  };
  const following = view.action === 'unfollow';
  const counter =
    count != null ? (
      <span className="muted small" data-testid="follower-count">
        {formatCount(count)} {count === 1 ? 'follower' : 'followers'}
      </span>
    ) : null;
  // Nobody follows their own channel: the owner sees the count only.
  if (own) return <span className="follow">{counter}</span>;
  return (
    <span className="follow">
      <button
        className={following ? 'follow-button following' : 'follow-button primary'}
        onClick={click}
        disabled={view.action === 'none' || view.busy}
        aria-busy={view.busy || undefined}
        aria-label={following ? `Unfollow ${name}` : `Follow ${name}`}
        title={following ? `Unfollow ${name}` : undefined}
        data-state={view.action}
      >
        <Heart filled={following} />
        {following ? (
          <>
            <span className="when-idle">Following</span>
            <span className="when-hover">Unfollow</span>
          </>
        ) : (
          <span>Follow</span>
        )}
      </button>
      {counter}
    </span>
  );
}
