// The card that opens on a name in chat: who they are (display name, account age, follow age)
// for everyone; their ban or timeout and the actions (timeout, ban, lift) for moderators.
import { useEffect, useRef, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ChatRole } from '../api/generated/ChatRole';
import { keys, useChatUserCard } from '../api/queries';
import { formatAge, formatDuration, formatUntil } from '../format';
import { banUser, liftBan, moderationError } from './moderation';

/** The durations the card offers for a timeout. */
export const TIMEOUTS = [60, 300, 600, 3600, 86400, 7 * 86400, 14 * 86400];

const ROLE: Record<ChatRole, string> = { viewer: 'Viewer', moderator: 'Moderator', owner: 'Channel owner', admin: 'Site admin' };

type Action = { kind: 'timeout'; seconds: number; reason?: string } | { kind: 'ban'; reason?: string } | { kind: 'lift' };

export function UserCard({ slug, username, onClose }: { slug: string; username: string; onClose: () => void }) {
  const q = useChatUserCard(slug, username);
  const qc = useQueryClient();
  const box = useRef<HTMLDivElement>(null);
  const [seconds, setSeconds] = useState(600);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => {
    // Focus moves into the card and back to what opened it (the name) when it closes.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const el = box.current;
    el?.focus();
    const away = (e: PointerEvent) => {
      const t = e.target as Node;
      if (box.current && !box.current.contains(t) && !(t instanceof Element && t.closest('[data-user-card-opener]'))) onClose();
    };
    // On the document: a button that was just disabled has dropped the focus to the body.
    const escape = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    document.addEventListener('pointerdown', away);
    document.addEventListener('keydown', escape);
    return () => {
      document.removeEventListener('pointerdown', away);
      document.removeEventListener('keydown', escape);
      // Unless the reader has moved on (e.g. clicked another name).
      const focus = document.activeElement;
      if (opener?.isConnected && (focus === document.body || focus == null || el?.contains(focus))) opener.focus({ preventScroll: true });
    };
  }, [onClose]);

  const act = useMutation({
    mutationFn: (a: Action) => {
      const r = reason.trim() || undefined;
      if (a.kind === 'lift') return liftBan(slug, username);
      if (a.kind === 'ban') return banUser(slug, { username, reason: r });
      return banUser(slug, { username, seconds: a.seconds, reason: r });
    },
    onMutate: () => {
      setError(null);
      setDone(null);
    },
    onSuccess: (_r, a) => {
      setReason('');
      setDone(a.kind === 'lift' ? `Lifted: ${username} may chat again.` : a.kind === 'ban' ? `${username} is banned.` : `${username} is timed out for ${formatDuration(a.seconds)}.`);
      qc.invalidateQueries({ queryKey: keys.chatUser(slug, username) });
      qc.invalidateQueries({ queryKey: keys.bans(slug) });
    },
    onError: (e, a) => setError(moderationError(e, a.kind === 'lift' ? 'lift' : a.kind, username)),
  });

  const c = q.data;
  const m = c?.moderation;
  const ban = m?.ban;
  return (
    <div
      ref={box}
      className="user-card"
      role="dialog"
      aria-label={`User card: ${username}`}
      tabIndex={-1}
    >
      <div className="row user-card-head">
        <div className="grow" style={{ minWidth: 0 }}>
          <div className="user-card-name">{c?.display_name ?? username}</div>
          <div className="muted small">
            @{c?.username ?? username}
            {c && c.role !== 'viewer' ? ` · ${ROLE[c.role]}` : ''}
          </div>
        </div>
        <button className="icon ghost" aria-label="Close the user card" onClick={onClose}>
          ×
        </button>
      </div>
      {q.isPending ? (
        <p className="muted small">Loading…</p>
      ) : q.isError ? (
        <p className="small bad-text" role="alert">
          {moderationError(q.error, 'ban', username)}
        </p>
      ) : c ? (
        <>
          <dl className="user-card-facts">
            <dt>Account</dt>
            <dd title={new Date(c.created_at).toLocaleString()}>created {formatAge(c.created_at)} ago</dd>
            <dt>Follows</dt>
            <dd title={c.followed_at ? new Date(c.followed_at).toLocaleString() : undefined}>
              {c.followed_at ? `for ${formatAge(c.followed_at)}` : 'not following'}
            </dd>
          </dl>
          {m && (
            <div className="user-card-mod">
              {ban && (
                <div className="row user-card-ban" role="status">
                  <span className="grow small">
                    {ban.expires_at ? `Timed out: ${formatUntil(ban.expires_at)} left` : 'Banned until lifted'}
                    {ban.reason ? ` (${ban.reason})` : ''}
                  </span>
                  <button onClick={() => act.mutate({ kind: 'lift' })} disabled={act.isPending}>
                    {ban.expires_at ? 'Lift timeout' : 'Unban'}
                  </button>
                </div>
              )}
              {m.can_act ? (
                <form
                  className="user-card-actions"
                  onSubmit={(e) => {
                    e.preventDefault();
                    act.mutate({ kind: 'timeout', seconds });
                  }}
                >
                  <div className="row">
                    <select id="card-timeout" aria-label="Timeout length" className="grow" value={seconds} onChange={(e) => setSeconds(Number(e.target.value))}>
                      {TIMEOUTS.map((s) => (
                        <option key={s} value={s}>
                          {formatDuration(s)}
                        </option>
                      ))}
                    </select>
                    <button type="submit" disabled={act.isPending}>
                      Time out
                    </button>
                  </div>
                  <input id="card-reason" aria-label="Reason (optional)" placeholder="Reason (optional)" maxLength={200} value={reason} onChange={(e) => setReason(e.target.value)} />
                  {!(ban && !ban.expires_at) && (
                    <button type="button" className="danger" onClick={() => act.mutate({ kind: 'ban' })} disabled={act.isPending}>
                      Ban {username}
                    </button>
                  )}
                </form>
              ) : (
                <p className="muted small">{c.role === 'viewer' ? 'You cannot act on this user.' : `You cannot time out or ban a ${ROLE[c.role].toLowerCase()}.`}</p>
              )}
              {error && (
                <p className="small bad-text" role="alert">
                  {error}
                </p>
              )}
              {done && (
                <p className="small" role="status">
                  {done}
                </p>
              )}
            </div>
          )}
        </>
      ) : null}
    </div>
  );
}
