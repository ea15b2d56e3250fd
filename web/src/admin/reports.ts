// The logic behind reporting (the Report dialog) and Admin → Reports: the fixed reasons, which
// actions fit which kind of case, a decision as a request, and a case in words.
import type { NewReport } from '../api/generated/NewReport';
import type { ReportDto } from '../api/generated/ReportDto';
import type { ResolveReport } from '../api/generated/ResolveReport';
import { DURATIONS } from './users';

/** The reasons a report may give, as the server lists them. */
export const REASONS: { id: string; label: string }[] = [
  { id: 'spam', label: 'Spam' },
  { id: 'harassment', label: 'Harassment or bullying' },
  { id: 'hate', label: 'Hate speech' },
  { id: 'violence', label: 'Violence or threats' },
  { id: 'sexual', label: 'Sexual content' },
  { id: 'self_harm', label: 'Self-harm' },
  { id: 'illegal', label: 'Illegal activity' },
  { id: 'copyright', label: 'Copyright' },
  { id: 'other', label: 'Something else' },
];

export const MAX_DETAILS = 1000;

export type ReportKind = 'channel' | 'message' | 'video' | 'clip';

/** What is reported: the kind, the channel's slug or the video's or clip's id, the message. */
export type ReportTarget = { kind: ReportKind; target: string; message_id?: number; label: string };

/** The report for the dialog's choices; a problem to show instead when there is one. */
export function reportRequest(t: ReportTarget, reason: string, details: string): NewReport | { problem: string } {
  if (!REASONS.some((r) => r.id === reason)) return { problem: 'Choose a reason.' };
  const text = details.trim();
  if (reason === 'other' && !text) return { problem: 'Tell us what is wrong.' };
  if (text.length > MAX_DETAILS) return { problem: `At most ${MAX_DETAILS} characters.` };
  const req: NewReport = { kind: t.kind, target: t.target, reason };
  if (t.message_id != null) req.message_id = t.message_id;
  if (text) req.details = text;
  return req;
}

/** The actions staff may take on a case, by kind; `destructive` ones ask for confirmation. */
export const ACTIONS: { id: string; label: string; kinds: ReportKind[] | null; destructive: boolean }[] = [
  { id: 'dismiss', label: 'Dismiss (no rule broken)', kinds: null, destructive: false },
  { id: 'delete_message', label: 'Delete the message', kinds: ['message'], destructive: true },
  { id: 'end_stream', label: 'End the stream', kinds: ['channel'], destructive: true },
  { id: 'take_down', label: 'Take it down', kinds: ['video', 'clip'], destructive: true },
  { id: 'suspend', label: 'Suspend the account', kinds: null, destructive: true },
];

export function actionsFor(kind: string) {
  return ACTIONS.filter((a) => a.kinds == null || a.kinds.includes(kind as ReportKind));
}

export function actionLabel(id: string | null | undefined): string {
  return ACTIONS.find((a) => a.id === id)?.label ?? id ?? '';
}

/** The decision for the form's choices; a problem to show instead when there is one. */
export function resolveRequest(action: string, note: string, duration: string): ResolveReport | { problem: string } {
  if (!ACTIONS.some((a) => a.id === action)) return { problem: 'Choose an action.' };
  const text = note.trim();
  if (text.length > 1000) return { problem: 'The note is at most 1,000 characters.' };
  const req: ResolveReport = { action };
  if (text) req.note = text;
  if (action === 'suspend') {
    const d = DURATIONS.find((x) => x.id === duration);
    if (!d) return { problem: 'Choose how long.' };
    if (d.secs == null) req.permanent = true;
    else req.duration_secs = d.secs;
  }
  return req;
}

/** "A chat message by troll in vods", "The video “Title”", ... */
export function caseTitle(c: Pick<ReportDto, 'kind' | 'snapshot'>): string {
  const s = c.snapshot;
  const channel = s.channel_title || s.channel_slug || 'a deleted channel';
  switch (c.kind) {
    case 'message':
      return `A chat message by ${s.author_name ?? 'someone'} in ${channel}`;
    case 'video':
      return `The video “${s.video_title ?? ''}” on ${channel}`;
    case 'clip':
      return `The clip “${s.clip_title ?? ''}” on ${channel}`;
    default:
      return `The channel ${channel}${s.live ? ' (live when reported)' : ''}`;
  }
}

/** Who a suspension falls on. */
export function accountable(c: Pick<ReportDto, 'snapshot'>): string | null {
  return c.snapshot.author_name ?? c.snapshot.owner_name ?? null;
}
