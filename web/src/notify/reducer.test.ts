import type { NotificationDto } from '../api/generated/NotificationDto';
import type { NotificationPage } from '../api/generated/NotificationPage';
import { badgeText, bellLabel, initialNotify, mergeById, notificationDetail, notificationText, notifyReducer, type NotifyState } from './reducer';

const n = (id: number, read = false, slug = 'alice'): NotificationDto => ({
  id,
  kind: 'stream_online',
  channel_slug: slug,
  channel_title: 'Alice plays',
  streamer_name: 'Alice Liddell',
  title: `stream ${id}`,
  broadcast_id: id * 10,
  created_at: '2026-11-26T01:00:00Z',
  read,
});
const page = (items: NotificationDto[], unread: number, next_before: number | null = null): NotificationPage => ({ items, unread, next_before });
const ids = (s: NotifyState) => s.items.map((x) => x.id);
const live = (s: NotifyState, x: NotificationDto, unread: number) =>
  notifyReducer(s, { type: 'server', msg: { type: 'notification', notification: x, unread } });

describe('notification reducer', () => {
  it('takes the unread count from ready, then from each notification', () => {
    let s = notifyReducer(initialNotify, { type: 'server', msg: { type: 'ready', unread: 2 } });
    expect(s.unread).toBe(2);
    expect(s.connection).toBe('open');
    s = live(s, n(5), 3);
    expect(s.unread).toBe(3);
    expect(ids(s)).toEqual([5]);
  });

  it('keeps each id once, newest first, whichever source brought it', () => {
    let s = notifyReducer(initialNotify, { type: 'page', page: page([n(4), n(2)], 2, 2), first: true });
    s = live(s, n(5), 3);
    s = live(s, n(5), 3); // a replayed frame
    s = notifyReducer(s, { type: 'page', page: page([n(5), n(4), n(3)], 3, 3), first: true });
    expect(ids(s)).toEqual([5, 4, 3, 2]);
    expect(s.unread).toBe(3);
    // Paging had reached 2: a refreshed first page does not move it back.
    expect(s.nextBefore).toBe(2);
    s = notifyReducer(s, { type: 'page', page: page([n(2), n(1)], 3, null), first: false });
    expect(ids(s)).toEqual([5, 4, 3, 2, 1]);
    expect(s.nextBefore).toBeNull();
  });

  it('marks one read and counts down once, however often it is clicked', () => {
    let s = notifyReducer(initialNotify, { type: 'page', page: page([n(2), n(1)], 2), first: true });
    s = notifyReducer(s, { type: 'read', id: 2 });
    s = notifyReducer(s, { type: 'read', id: 2 });
    expect(s.unread).toBe(1);
    expect(s.items.find((x) => x.id === 2)?.read).toBe(true);
    // Unknown ids change nothing.
    expect(notifyReducer(s, { type: 'read', id: 99 })).toBe(s);
  });

  it('a read made here survives a page fetched before the server saw it', () => {
    let s = notifyReducer(initialNotify, { type: 'page', page: page([n(2)], 1), first: true });
    s = notifyReducer(s, { type: 'read', id: 2 });
    s = notifyReducer(s, { type: 'page', page: page([n(2, false)], 0), first: true });
    expect(s.items[0].read).toBe(true);
    expect(mergeById([n(1, true)], [n(1, false)])[0].read).toBe(true);
  });

  it('marks all read', () => {
    let s = notifyReducer(initialNotify, { type: 'page', page: page([n(3), n(2, true), n(1)], 2), first: true });
    s = notifyReducer(s, { type: 'read_all' });
    expect(s.unread).toBe(0);
    expect(s.items.every((x) => x.read)).toBe(true);
  });

  it('forgets everything on reset (sign-out)', () => {
    const s = live(initialNotify, n(1), 1);
    expect(notifyReducer(s, { type: 'reset' })).toEqual(initialNotify);
  });

  it('labels the bell and its badge', () => {
    expect(bellLabel(0)).toBe('Notifications, 0 unread');
    expect(bellLabel(3)).toBe('Notifications, 3 unread');
    expect(badgeText(0)).toBeNull();
    expect(badgeText(7)).toBe('7');
    expect(badgeText(150)).toBe('99+');
    // The streamer's display name, the channel's address only when the server sent no name.
    expect(notificationText(n(1))).toBe('Alice Liddell went live');
    expect(notificationText({ ...n(1), streamer_name: '' })).toBe('alice went live');
  });

  it('words a report decision without naming anyone', () => {
    const done = { ...n(2), kind: 'report_resolved', title: 'We reviewed your report of a video: action was taken.' };
    expect(notificationText(done)).toBe('Your report was reviewed');
    expect(notificationDetail(done)).toBe('We reviewed your report of a video: action was taken.');
  });

  it('heads a DMCA takedown with what it is, the title saying which items', () => {
    const down = { ...n(3), kind: 'dmca_takedown', title: 'Your video “Jam” was taken down after DMCA notice 7' };
    expect(notificationText(down)).toBe('Copyright notice: content taken down');
    expect(notificationDetail(down)).toBe('Your video “Jam” was taken down after DMCA notice 7');
  });
});
