import { chatReducer, initialChat, blockedReason, type ChatState } from './reducer';
import type { ChatMessage } from '../api/generated/ChatMessage';
import type { ServerMsg } from '../api/generated/ServerMsg';

const msg = (id: number, text = `m${id}`, user_id = 2, username = 'bob'): ChatMessage => ({
  id,
  user_id,
  username,
  role: 'viewer',
  text,
  sent_at: '2026-01-01T00:00:00Z',
});

const server = (s: ChatState, m: ServerMsg, now = 1000) => chatReducer(s, { type: 'server', msg: m, now });
const ids = (s: ChatState) => s.log.flatMap((e) => (e.kind === 'message' ? [e.msg.id] : []));

const welcome = (s = initialChat) =>
  server(s, {
    type: 'welcome',
    channel: 'c',
    you: { id: 1, username: 'ann', role: 'viewer' },
    mode: { slow_seconds: 0, followers_only: null, emote_only: false },
    last_id: 3,
  });

describe('chat reducer', () => {
  it('merges history and live messages in id order without duplicates', () => {
    let s = welcome();
    s = server(s, { type: 'history', messages: [msg(2), msg(3)], more: false });
    s = server(s, { type: 'message', ...msg(5) });
    s = server(s, { type: 'message', ...msg(4) });
    s = server(s, { type: 'history', messages: [msg(3), msg(4)], more: false });
    s = server(s, { type: 'message', ...msg(5) });
    expect(ids(s)).toEqual([2, 3, 4, 5]);
    expect(s.lastId).toBe(5);
  });

  it('shows our message as pending until it comes back, then acknowledged', () => {
    let s = welcome();
    s = chatReducer(s, { type: 'sent', client_id: 'a', text: 'hi there' });
    expect(s.pending).toHaveLength(1);
    expect(s.pending[0].status).toBe('sending');
    s = server(s, { type: 'message', ...msg(7, 'hi there', 1, 'ann') });
    expect(s.pending).toHaveLength(0);
    expect(ids(s)).toEqual([7]);
    // A late ack changes nothing.
    s = server(s, { type: 'ack', client_id: 'a', id: 7 });
    expect(s.pending).toHaveLength(0);
  });

  it('an ack alone clears the pending message', () => {
    let s = chatReducer(welcome(), { type: 'sent', client_id: 'a', text: 'x' });
    s = server(s, { type: 'ack', client_id: 'a', id: 9 });
    expect(s.pending).toHaveLength(0);
  });

  it('keeps a rejected message with the reason, and slow mode says how long to wait', () => {
    let s = chatReducer(welcome(), { type: 'sent', client_id: 'a', text: 'too fast' });
    s = server(
      s,
      { type: 'rejected', client_id: 'a', action: 'send', code: 'slow_mode', message: 'Slow mode: wait 4 s', retry_after_ms: 4000 },
      10_000,
    );
    expect(s.pending[0]).toMatchObject({ status: 'rejected', reason: 'Slow mode: wait 4 s' });
    expect(s.waitUntil).toBe(14_000);
    s = chatReducer(s, { type: 'dismiss', client_id: 'a' });
    expect(s.pending).toHaveLength(0);
  });

  it('a refused moderator action becomes a notice', () => {
    const s = server(welcome(), { type: 'rejected', client_id: null, action: 'ban', code: 'forbidden', message: 'cannot ban the owner', retry_after_ms: null });
    expect(s.log.at(-1)).toMatchObject({ kind: 'notice', text: 'cannot ban the owner', tone: 'bad' });
  });

  it('removes deleted messages', () => {
    let s = server(welcome(), { type: 'history', messages: [msg(1), msg(2)], more: false });
    s = server(s, { type: 'deleted', id: 1, by: 'mod' });
    expect(ids(s)).toEqual([2]);
  });

  it('tells us when we are banned or timed out, and lifts it on unban', () => {
    let s = welcome();
    s = server(s, { type: 'user_timed_out', user: 'ann', user_id: 1, seconds: 60, until: new Date(61_000).toISOString(), by: 'mod' });
    expect(blockedReason(s, 1000)).toBe('You are timed out for 1 minute.');
    expect(s.log.at(-1)).toMatchObject({ kind: 'notice', text: 'You were timed out for 1 minute by mod.', tone: 'bad' });
    expect(blockedReason(s, 31_500)).toBe('You are timed out for 30 seconds.');
    expect(blockedReason(s, 62_000)).toBeNull();
    s = server(s, { type: 'user_banned', user: 'ann', user_id: 1, reason: 'spam', by: 'mod' });
    expect(blockedReason(s, 1000)).toBe('You are banned from this chat.');
    expect(s.log.at(-1)).toMatchObject({ kind: 'notice', text: 'You were banned from this chat by mod: spam' });
    s = server(s, { type: 'user_unbanned', user: 'ann', user_id: 1, by: 'mod' });
    expect(blockedReason(s, 1000)).toBeNull();
    // Others' bans are notices only.
    s = server(s, { type: 'user_banned', user: 'bob', user_id: 2, reason: null, by: 'mod' });
    expect(blockedReason(s, 1000)).toBeNull();
  });

  it('follows mode changes and viewer counts', () => {
    let s = server(welcome(), { type: 'mode', slow_seconds: 10, followers_only: null, emote_only: true });
    expect(s.mode.slow_seconds).toBe(10);
    expect(s.log.at(-1)).toMatchObject({ text: 'Chat mode: slow mode (10 seconds), emote-only.' });
    s = server(s, { type: 'mode', slow_seconds: 600, followers_only: 60, emote_only: false });
    expect(s.log.at(-1)).toMatchObject({ text: 'Chat mode: slow mode (10 minutes), followers-only (followers of 1 hour).' });
    s = server(s, { type: 'user_timed_out', user: 'bob', user_id: 2, seconds: 600, until: new Date(601_000).toISOString(), by: 'mod' });
    expect(s.log.at(-1)).toMatchObject({ text: 'bob was timed out for 10 minutes by mod.' });
    s = server(s, { type: 'viewer_count', count: 42 });
    expect(s.viewers).toBe(42);
  });

  it('adds local notices, seen by this reader only', () => {
    const s = chatReducer(welcome(), { type: 'notice', text: 'unknown user', tone: 'bad' });
    expect(s.log.at(-1)).toMatchObject({ kind: 'notice', text: 'unknown user', tone: 'bad' });
  });

  it('keeps at most 300 entries', () => {
    let s = welcome();
    s = server(s, { type: 'history', messages: Array.from({ length: 350 }, (_, i) => msg(i + 1)), more: false });
    expect(s.log).toHaveLength(300);
    expect(ids(s)[0]).toBe(51);
  });
});
