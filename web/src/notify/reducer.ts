// What the bell shows, from two sources: pages from `GET /notifications` and frames from the
// notifications socket. Pure, so the rules are unit-tested: newest first, each id once, the
// server's unread count wins whenever it sends one, local reads count down at once.
import type { NotificationDto } from '../api/generated/NotificationDto';
import type { NotificationPage } from '../api/generated/NotificationPage';
import type { NotifyServerMsg } from '../api/generated/NotifyServerMsg';

export type Connection = 'off' | 'connecting' | 'open' | 'reconnecting';

export type NotifyState = {
  /** Newest first, each id once. */
  items: NotificationDto[];
  unread: number;
  /** Where the next page starts (`before`); `null` once the oldest was loaded. */
  nextBefore: number | null;
  /** A first page has been loaded. */
  loaded: boolean;
  connection: Connection;
};

export const initialNotify: NotifyState = { items: [], unread: 0, nextBefore: null, loaded: false, connection: 'off' };

export type NotifyAction =
  | { type: 'server'; msg: NotifyServerMsg }
  /** A page from the REST API; `first` replaces what is known about the newest page. */
  | { type: 'page'; page: NotificationPage; first: boolean }
  | { type: 'read'; id: number }
  | { type: 'read_all' }
  | { type: 'connection'; connection: Connection }
  | { type: 'reset' };

/** Merges two lists newest first; an id in both keeps the `incoming` copy unless ours is read. */
export function mergeById(current: NotificationDto[], incoming: NotificationDto[]): NotificationDto[] {
  const byId = new Map<number, NotificationDto>();
  for (const n of current) byId.set(n.id, n);
  for (const n of incoming) {
    const known = byId.get(n.id);
    // A read made here may not have reached the server's copy yet: read stays read.
    byId.set(n.id, known?.read && !n.read ? { ...n, read: true } : n);
  }
  return [...byId.values()].sort((a, b) => b.id - a.id);
}

export function notifyReducer(s: NotifyState, a: NotifyAction): NotifyState {
  switch (a.type) {
    case 'server': {
      const m = a.msg;
      if (m.type === 'ready') return { ...s, unread: m.unread, connection: 'open' };
      if (m.type === 'notification') return { ...s, items: mergeById(s.items, [m.notification]), unread: m.unread };
      return s;
    }
    case 'page': {
      const items = mergeById(s.items, a.page.items);
      return {
        ...s,
        items,
        unread: a.page.unread,
        // A refreshed first page does not move where older pages start, once paging began.
        nextBefore: a.first && s.loaded ? (s.nextBefore === null ? null : Math.min(s.nextBefore, a.page.next_before ?? s.nextBefore)) : a.page.next_before,
        loaded: true,
      };
    }
    case 'read': {
      const n = s.items.find((x) => x.id === a.id);
      if (!n || n.read) return s;
      return { ...s, items: s.items.map((x) => (x.id === a.id ? { ...x, read: true } : x)), unread: Math.max(0, s.unread - 1) };
    }
    case 'read_all':
      return { ...s, items: s.items.map((x) => (x.read ? x : { ...x, read: true })), unread: 0 };
    case 'connection':
      return { ...s, connection: a.connection };
    case 'reset':
      return initialNotify;
  }
}

/** The bell's accessible name. */
export function bellLabel(unread: number): string {
  return `Notifications, ${unread} unread`;
}

/** What the badge shows: nothing at 0, "99+" past 99. */
export function badgeText(unread: number): string | null {
  if (unread <= 0) return null;
  return unread > 99 ? '99+' : String(unread);
}

/**
 * The line a notification reads as, in the list and in the toast ("Alice Liddell went live"):
 * the streamer's display name, the channel's address only when the server sent no name.
 */
export function notificationText(n: NotificationDto): string {
  const who = n.streamer_name || n.channel_slug;
  if (n.kind === 'report_resolved') return 'Your report was reviewed';
  if (n.kind === 'dmca_takedown') return 'Copyright notice: content taken down';
  return n.kind === 'stream_online' ? `${who} went live` : n.title || who;
}

/** The second line: what the broadcast is about (for a report: the outcome). */
export function notificationDetail(n: NotificationDto): string {
  return n.title || n.channel_title;
}
