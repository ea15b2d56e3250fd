import { useEffect, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { ErrorState, Loading, timeAgo } from '../components/States';
import { useNotifications } from './NotificationsProvider';
import { badgeText, bellLabel, notificationDetail, notificationText } from './reducer';

/** The header's bell: unread badge, and a panel of the newest notifications. */
export function Bell() {
  const { state, loadError, refresh, markRead, markAllRead, loadMore } = useNotifications();
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (!ref.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  // Opened before the socket said `ready` (or while it is down): fetch the list directly.
  useEffect(() => {
    if (open && !state.loaded) refresh();
  }, [open, state.loaded, refresh]);
  const badge = badgeText(state.unread);
  const close = (focus: boolean) => {
    setOpen(false);
    if (focus) button.current?.focus();
  };
  return (
    <div
      className="menu"
      ref={ref}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && open) {
          e.stopPropagation();
          close(true);
        }
      }}
    >
      <button
        ref={button}
        className="icon ghost bell"
        aria-label={bellLabel(state.unread)}
        aria-haspopup="dialog"
        aria-expanded={open}
        aria-controls={open ? 'notify-panel' : undefined}
        title="Notifications"
        onClick={() => setOpen((o) => !o)}
        data-testid="bell"
      >
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
          <path
            fill="currentColor"
            d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2zm-2 1H7v-6a5 5 0 0 1 10 0v6z"
          />
        </svg>
        {badge && (
          <span className="count-badge" aria-hidden="true">
            {badge}
          </span>
        )}
      </button>
      {open && (
        <div id="notify-panel" className="notify-panel" role="dialog" aria-labelledby="notify-h">
          <div className="notify-head">
            <h2 id="notify-h">Notifications</h2>
            <button className="ghost small-button" onClick={markAllRead} disabled={state.unread === 0}>
              Mark all read
            </button>
          </div>
          {!state.loaded && loadError ? (
            <div style={{ padding: 8 }}>
              <ErrorState error={loadError} retry={refresh} />
            </div>
          ) : !state.loaded ? (
            <Loading label="Loading notifications" />
          ) : state.items.length === 0 ? (
            <p className="muted notify-empty">Nothing yet. Follow channels to hear when they go live.</p>
          ) : (
            <ul className="notify-list" aria-label="Notifications">
              {state.items.map((n) => (
                <li key={n.id}>
                  <Link
                    to={`/c/${encodeURIComponent(n.channel_slug)}`}
                    className={n.read ? 'notify-item' : 'notify-item unread'}
                    onClick={() => {
                      markRead(n.id);
                      close(false);
                    }}
                  >
                    <span className="avatar" aria-hidden="true">
                      {n.channel_slug.slice(0, 1)}
                    </span>
                    <span className="grow notify-text">
                      <strong>{notificationText(n)}</strong>
                      {notificationDetail(n) && <span className="muted small ellipsis">{notificationDetail(n)}</span>}
                      <span className="muted small">
                        <time dateTime={n.created_at}>{timeAgo(n.created_at)}</time>
                      </span>
                    </span>
                    {!n.read && <span className="unread-dot" role="img" aria-label="unread" />}
                  </Link>
                </li>
              ))}
            </ul>
          )}
          {state.nextBefore !== null && state.loaded && (
            <button className="ghost notify-more" onClick={loadMore}>
              Show older
            </button>
          )}
          <div className="notify-foot">
            {state.connection === 'reconnecting' && <span className="muted small">Reconnecting…</span>}
            <Link to="/settings#notifications" onClick={() => close(false)} className="small">
              Notification settings
            </Link>
          </div>
        </div>
      )}
    </div>
  );
}
