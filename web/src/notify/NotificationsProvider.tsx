// One notifications socket per tab, open only while signed in: the access token goes in the
// first frame (never in the URL), a fresh one on every reconnect (forced after the server refused
// it), reconnects back off, and every `ready` reloads the newest page so nothing sent while the
// socket was down is missed. `notifyReducer` (pure, unit-tested) holds what the bell shows.
import { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { NotificationPage } from '../api/generated/NotificationPage';
import type { NotifyClientMsg } from '../api/generated/NotifyClientMsg';
import type { NotifyServerMsg } from '../api/generated/NotifyServerMsg';
import { keys } from '../api/queries';
import { useMe } from '../api/session';
import { tokens } from '../api/tokens';
import { useToast } from '../components/Toasts';
import { initialNotify, notificationText, notifyReducer, type NotifyState } from './reducer';

const PAGE = 20;
const PING_MS = 25_000;

export function notifySocketUrl(loc: { protocol: string; host: string }): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/api/v1/notifications/ws`;
}

/** Reconnect delay after `attempt` failures: 0.5 s doubling to 15 s, with ±25 % jitter. */
export function backoff(attempt: number, random = Math.random()): number {
  return Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)) * (0.75 + random / 2);
}

type Api = {
  state: NotifyState;
  /** Why the newest page could not be loaded, if it could not. */
  loadError: unknown;
  /** Loads the newest page (the socket does this on every `ready`; the panel when it opens first). */
  refresh: () => void;
  markRead: (id: number) => void;
  markAllRead: () => void;
  loadMore: () => void;
};

const Ctx = createContext<Api>({
  state: initialNotify,
  loadError: null,
  refresh: () => {},
  markRead: () => {},
  markAllRead: () => {},
  loadMore: () => {},
});

export function useNotifications(): Api {
  return useContext(Ctx);
}

export function NotificationsProvider({ children }: { children: ReactNode }) {
  const me = useMe();
  const userId = me?.id ?? null;
  const [state, dispatch] = useReducer(notifyReducer, initialNotify);
  const stateRef = useRef(state);
  stateRef.current = state;
  const toast = useToast();
  const qc = useQueryClient();
  const [loadError, setLoadError] = useState<unknown>(null);
  // Ids already known, so a replayed frame toasts once.
  const seen = useRef(new Set<number>());

  const refresh = useCallback(async () => {
    try {
      const page = await api<NotificationPage>(`/notifications?limit=${PAGE}`, { auth: true });
      if (!tokens.signedIn()) return;
      for (const n of page.items) seen.current.add(n.id);
      setLoadError(null);
      dispatch({ type: 'page', page, first: true });
    } catch (e) {
      setLoadError(e);
    }
  }, []);

  useEffect(() => {
    if (userId === null) {
      dispatch({ type: 'reset' });
      return;
    }
    let stopped = false;
    let attempt = 0;
    let forceRefresh = false;
    let timer: number | undefined;
    let ping: number | undefined;
    let sock: WebSocket | null = null;
    seen.current = new Set();

    const connect = async () => {
      dispatch({ type: 'connection', connection: attempt === 0 ? 'connecting' : 'reconnecting' });
      const token = await tokens.access(forceRefresh ? { force: true } : {});
      forceRefresh = false;
      if (stopped) return;
      if (!token) {
        dispatch({ type: 'connection', connection: 'off' });
        return;
      }
      const s = new WebSocket(notifySocketUrl(window.location));
      sock = s;
      const send = (m: NotifyClientMsg) => s.readyState === WebSocket.OPEN && s.send(JSON.stringify(m));
      s.onopen = () => {
        send({ type: 'auth', token });
        window.clearInterval(ping);
        ping = window.setInterval(() => send({ type: 'ping' }), PING_MS);
      };
      s.onmessage = (e) => {
        let msg: NotifyServerMsg;
        try {
          msg = JSON.parse(String(e.data)) as NotifyServerMsg;
        } catch {
          return;
        }
        if (msg.type === 'ready') {
          attempt = 0;
          refresh();
        } else if (msg.type === 'notification') {
          const n = msg.notification;
          if (!seen.current.has(n.id)) {
            seen.current.add(n.id);
            toast.show(notificationText(n));
          }
          // The channel's live state changed: lists showing it are stale.
          qc.invalidateQueries({ queryKey: keys.following });
          qc.invalidateQueries({ queryKey: keys.channel(n.channel_slug) });
          qc.invalidateQueries({ queryKey: ['channels'] });
        } else if (msg.type === 'error') {
          // A refused token: ask for a fresh one before the next attempt (the server closes).
          if (/token|auth/i.test(msg.code)) forceRefresh = true;
        }
        dispatch({ type: 'server', msg });
      };
      s.onclose = () => {
        window.clearInterval(ping);
        if (sock === s) sock = null;
        if (stopped) return;
        attempt += 1;
        dispatch({ type: 'connection', connection: 'reconnecting' });
        timer = window.setTimeout(connect, backoff(attempt));
      };
    };
    connect();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      window.clearInterval(ping);
      sock?.close(1000);
      sock = null;
    };
  }, [userId, toast, qc, refresh]);

  const markRead = useCallback(
    (id: number) => {
      const n = stateRef.current.items.find((x) => x.id === id);
      if (!n || n.read) return;
      dispatch({ type: 'read', id });
      api<void>(`/notifications/${id}/read`, { method: 'PUT', auth: true }).catch((e) => toast.show(errorMessage(e), 'error'));
    },
    [toast],
  );

  const markAllRead = useCallback(() => {
    dispatch({ type: 'read_all' });
    api<void>('/notifications/read-all', { method: 'POST', auth: true })
      .then(() => toast.show('All notifications marked as read', 'success'))
      .catch((e) => toast.show(errorMessage(e), 'error'));
  }, [toast]);

  const loadMore = useCallback(() => {
    const before = stateRef.current.nextBefore;
    if (before === null) return;
    api<NotificationPage>(`/notifications?before=${before}&limit=${PAGE}`, { auth: true })
      .then((page) => dispatch({ type: 'page', page, first: false }))
      .catch((e) => toast.show(errorMessage(e), 'error'));
  }, [toast]);

  const value = useMemo(
    () => ({ state, loadError, refresh, markRead, markAllRead, loadMore }),
    [state, loadError, refresh, markRead, markAllRead, loadMore],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
