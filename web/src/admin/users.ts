// The logic behind Admin → Users and the sign-in form's suspension notice: what a staff member
// may do to whom, the suspend dialog's choices as a request, and a suspension in words.
import type { AdminUserDto } from '../api/generated/AdminUserDto';
import type { Me } from '../api/generated/Me';
import type { SuspendUser } from '../api/generated/SuspendUser';
import type { SuspensionInfo } from '../api/generated/SuspensionInfo';
import { formatUntil } from '../format';

export const ROLES = ['user', 'moderator', 'admin'] as const;

/** Admins and site-wide moderators. */
export function isStaff(me: Pick<Me, 'role'> | null | undefined): boolean {
  return me?.role === 'admin' || me?.role === 'moderator';
}

/** The suspend dialog's durations; `permanent` has no end. */
export const DURATIONS: { id: string; label: string; secs: number | null }[] = [
  { id: '1h', label: '1 hour', secs: 3600 },
  { id: '1d', label: '1 day', secs: 86400 },
  { id: '7d', label: '7 days', secs: 7 * 86400 },
  { id: '30d', label: '30 days', secs: 30 * 86400 },
  { id: 'permanent', label: 'Permanently', secs: null },
];

/** The request for a duration id and a reason; a problem to show instead when there is one. */
export function suspendRequest(duration: string, reason: string): SuspendUser | { problem: string } {
  const why = reason.trim();
  if (!why) return { problem: 'Give a reason: the user sees it when they try to sign in.' };
  if (why.length > 500) return { problem: 'The reason is at most 500 characters.' };
  const d = DURATIONS.find((x) => x.id === duration);
  if (!d) return { problem: 'Choose how long.' };
  return d.secs == null ? { reason: why, permanent: true } : { reason: why, duration_secs: d.secs };
}

/** What `me` may do to `target` on the Users page (the server checks the same). */
export function allowedActions(me: Pick<Me, 'id' | 'role'>, target: Pick<AdminUserDto, 'id' | 'role' | 'suspension'>) {
  const self = me.id === target.id;
  const admin = me.role === 'admin';
  const staffTarget = target.role === 'admin' || target.role === 'moderator';
  const reach = !self && (admin || !staffTarget);
  return {
    suspend: reach && target.role !== 'admin' && !target.suspension,
    unsuspend: reach && Boolean(target.suspension),
    changeRole: admin,
    delete: admin && !self,
  };
}

/** "until 7 Dec 2026, 10:00 (in 3 hours)" or "permanently". */
export function suspensionEnd(s: Pick<SuspensionInfo, 'until'>, now = Date.now()): string {
  if (!s.until) return 'permanently';
  const at = new Date(s.until);
  const when = at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return `until ${when} (in ${formatUntil(s.until, now)})`;
}

/** The sign-in form's notice for a suspended account. */
export function suspensionNotice(s: SuspensionInfo, now = Date.now()): string {
  return `This account is suspended ${suspensionEnd(s, now)}. Reason: ${s.reason}`;
}

/** An audit entry's action in words. */
export const ACTION_LABELS: Record<string, string> = {
  'user.suspend': 'Suspended a user',
  'user.unsuspend': 'Lifted a suspension',
  'user.role': 'Changed a role',
  'user.delete': 'Deleted a user',
  'stream.stop': 'Stopped a stream',
  'service.restart': 'Restarted a service',
  'chat_room.restart': 'Restarted a chat room',
  'chat_room.close': 'Closed a chat room',
  'dmca.takedown': 'Took down what a DMCA notice names',
  'dmca.reject': 'Rejected a DMCA notice',
  'dmca.legal_action': 'Recorded legal action on a DMCA notice',
  'dmca.restore': 'Restored after a counter-notice',
  'report.claim': 'Claimed a report',
  'report.resolve': 'Resolved a report',
};
