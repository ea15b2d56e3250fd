// The chat panel's state, driven by the server's frames (`ServerMsg`) and the user's own
// sends. Pure: the socket lives in `useChat`, this file only decides what the panel shows.
import type { ChatMessage } from '../api/generated/ChatMessage';
import type { ChatUser } from '../api/generated/ChatUser';
import type { RoomMode } from '../api/generated/RoomMode';
import type { ServerMsg } from '../api/generated/ServerMsg';
import { formatDuration } from '../format';

/** A message of ours the server has not confirmed (or refused). */
export type Pending = {
  client_id: string;
  text: string;
  status: 'sending' | 'rejected';
  reason?: string;
  /** Times sent (retries after `unavailable` / `overloaded` reuse the client id). */
  tries: number;
};

export type Entry =
  | { kind: 'message'; msg: ChatMessage }
  | { kind: 'notice'; key: number; text: string; tone?: 'bad' };

export type Connection = 'connecting' | 'open' | 'reconnecting' | 'closed';

export type ChatState = {
  log: Entry[];
  pending: Pending[];
  you: ChatUser | null;
  mode: RoomMode;
  /** The highest message id held: resume after it on reconnect. */
  lastId: number;
  viewers: number | null;
  connection: Connection;
  banned: boolean;
  /** ms since the epoch, while timed out */
  timedOutUntil: number | null;
  /** ms since the epoch: slow mode or rate limit says wait until then */
  waitUntil: number | null;
  nextKey: number;
};

export type ChatAction =
  | { type: 'server'; msg: ServerMsg; now: number }
  | { type: 'sent'; client_id: string; text: string }
  | { type: 'retried'; client_id: string }
  | { type: 'dismiss'; client_id: string }
  /** A line only this reader sees (a command's reply, `/help`). */
  | { type: 'notice'; text: string; tone?: 'bad' }
  | { type: 'connection'; connection: Connection };

/** Messages kept in the panel; older ones scroll away for good. */
export const MAX_LOG = 300;

export const initialChat: ChatState = {
  log: [],
  pending: [],
  you: null,
  mode: { slow_seconds: 0, followers_only: null, emote_only: false },
  lastId: 0,
  viewers: null,
  connection: 'connecting',
  banned: false,
  timedOutUntil: null,
  waitUntil: null,
  nextKey: 1,
};

export function describeMode(m: RoomMode): string {
  const parts: string[] = [];
  if (m.slow_seconds > 0) parts.push(`slow mode (${formatDuration(m.slow_seconds)})`);
  if (m.followers_only != null)
    parts.push(m.followers_only > 0 ? `followers-only (followers of ${formatDuration(m.followers_only * 60)})` : 'followers-only');
  if (m.emote_only) parts.push('emote-only');
  return parts.length ? parts.join(', ') : 'no restrictions';
}

function addMessages(log: Entry[], msgs: ChatMessage[]): Entry[] {
  const have = new Set(log.flatMap((e) => (e.kind === 'message' ? [e.msg.id] : [])));
  const fresh = msgs.filter((m) => !have.has(m.id));
  if (fresh.length === 0) return log;
  let next = [...log];
  for (const m of [...fresh].sort((a, b) => a.id - b.id)) {
    // Usually the newest: append. Otherwise insert before the first later message.
    let at = next.length;
    for (let i = next.length - 1; i >= 0; i--) {
      const e = next[i];
      if (e.kind === 'message') {
        if (e.msg.id < m.id) break;
        at = i;
      }
    }
    next.splice(at, 0, { kind: 'message', msg: m });
  }
  if (next.length > MAX_LOG) next = next.slice(next.length - MAX_LOG);
  return next;
}

function notice(s: ChatState, text: string, tone?: 'bad'): ChatState {
  const log = [...s.log, { kind: 'notice' as const, key: s.nextKey, text, tone }];
  return { ...s, log: log.length > MAX_LOG ? log.slice(log.length - MAX_LOG) : log, nextKey: s.nextKey + 1 };
}

function maxId(msgs: ChatMessage[], start: number): number {
  return msgs.reduce((m, x) => Math.max(m, x.id), start);
}

export function chatReducer(s: ChatState, a: ChatAction): ChatState {
  switch (a.type) {
    case 'connection':
      return { ...s, connection: a.connection };
    case 'sent':
      return { ...s, pending: [...s.pending, { client_id: a.client_id, text: a.text, status: 'sending', tries: 1 }] };
    case 'retried':
      return {
        ...s,
        pending: s.pending.map((p) => (p.client_id === a.client_id ? { ...p, status: 'sending', reason: undefined, tries: p.tries + 1 } : p)),
      };
    case 'dismiss':
      return { ...s, pending: s.pending.filter((p) => p.client_id !== a.client_id) };
    case 'notice':
      return notice(s, a.text, a.tone);
    case 'server':
      return onServer(s, a.msg, a.now);
  }
}

function onServer(s: ChatState, m: ServerMsg, now: number): ChatState {
  switch (m.type) {
    case 'welcome':
      return { ...s, you: m.you, mode: m.mode, connection: 'open' };
    case 'history':
      return { ...s, log: addMessages(s.log, m.messages), lastId: maxId(m.messages, s.lastId) };
    case 'message': {
      const { type: _t, ...msg } = m;
      void _t;
      let pending = s.pending;
      if (s.you && msg.user_id === s.you.id) {
        // Our own message is back: the first pending one with this text is it.
        const i = pending.findIndex((p) => p.status === 'sending' && p.text.trim() === msg.text);
        if (i >= 0) pending = [...pending.slice(0, i), ...pending.slice(i + 1)];
      }
      return { ...s, pending, log: addMessages(s.log, [msg]), lastId: Math.max(s.lastId, msg.id) };
    }
    case 'ack':
      return { ...s, pending: s.pending.filter((p) => p.client_id !== m.client_id) };
    case 'rejected': {
      let next = s;
      if (m.retry_after_ms != null && (m.code === 'slow_mode' || m.code === 'rate_limited')) {
        next = { ...next, waitUntil: now + m.retry_after_ms };
      }
      if (m.code === 'banned') next = { ...next, banned: true };
      const mine = m.client_id != null && next.pending.some((p) => p.client_id === m.client_id);
      if (mine) {
        return {
          ...next,
          pending: next.pending.map((p) => (p.client_id === m.client_id ? { ...p, status: 'rejected', reason: m.message } : p)),
        };
      }
      return notice(next, m.message, 'bad');
    }
    case 'deleted':
      return { ...s, log: s.log.filter((e) => !(e.kind === 'message' && e.msg.id === m.id)) };
    case 'user_timed_out': {
      const self = s.you?.id === m.user_id;
      const next = self ? { ...s, timedOutUntil: new Date(m.until).getTime() } : s;
      const d = formatDuration(m.seconds);
      return notice(next, self ? `You were timed out for ${d} by ${m.by}.` : `${m.user} was timed out for ${d} by ${m.by}.`, self ? 'bad' : undefined);
    }
    case 'user_banned': {
      const self = s.you?.id === m.user_id;
      const next = self ? { ...s, banned: true } : s;
      const why = m.reason ? `: ${m.reason}` : '.';
      return notice(next, self ? `You were banned from this chat by ${m.by}${why}` : `${m.user} was banned${why}`, self ? 'bad' : undefined);
    }
    case 'user_unbanned': {
      const self = s.you?.id === m.user_id;
      const next = self ? { ...s, banned: false, timedOutUntil: null } : s;
      return notice(next, self ? 'You may chat again.' : `${m.user} may chat again (${m.by} lifted it).`);
    }
    case 'mode': {
      const { type: _t, ...mode } = m;
      void _t;
      return notice({ ...s, mode }, `Chat mode: ${describeMode(mode)}.`);
    }
    case 'viewer_count':
      return { ...s, viewers: m.count };
    case 'error':
      return notice(s, m.message, 'bad');
    case 'pong':
      return s;
  }
}

/** Why the user cannot send right now, if anything. */
export function blockedReason(s: ChatState, now: number): string | null {
  if (!s.you) return null;
  if (s.banned) return 'You are banned from this chat.';
  if (s.timedOutUntil && s.timedOutUntil > now) return `You are timed out for ${formatDuration(Math.ceil((s.timedOutUntil - now) / 1000))}.`;
  return null;
}
