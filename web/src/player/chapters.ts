// Chapters of a video: the clock times people type and read (`1:05`, `1:02:03`), and which
// chapter a position is in.
import type { ChapterDto } from '../api/generated/ChapterDto';

/**
 * `ss`, `m:ss`, `mm:ss` or `h:mm:ss` in whole seconds, or null when it is not one of those
 * (seconds and minutes after the first part must be below 60).
 */
export function parseClock(s: string): number | null {
  const t = s.trim();
  if (!/^\d+(:\d{1,2}){0,2}$/.test(t)) return null;
  const parts = t.split(':').map(Number);
  if (parts.slice(1).some((p) => p >= 60)) return null;
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** Whole seconds as `m:ss`, or `h:mm:ss` from an hour on. */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** A video's length as a clock, rounded (a position is rounded down: 11.97 s plays as 0:11 but lasts 0:12). */
export function formatLength(seconds: number): string {
  return formatClock(Math.round(Number.isFinite(seconds) ? seconds : 0));
}

/** The chapters sorted by start. */
export function sortChapters(chapters: ChapterDto[]): ChapterDto[] {
  return [...chapters].sort((a, b) => a.start - b.start);
}

/** The index (in `sorted`) of the chapter playing at `t`, or -1 before the first. */
export function chapterIndexAt(sorted: ChapterDto[], t: number): number {
  let found = -1;
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i].start <= t) found = i;
    else break;
  }
  return found;
}

/** What is wrong with a chapter list before it is sent, per row, or null when it is fine. */
export function chapterProblems(rows: { title: string; start: string }[], duration: number): (string | null)[] {
  const starts = rows.map((r) => parseClock(r.start));
  return rows.map((r, i) => {
    if (!r.title.trim()) return 'give the chapter a title';
    const s = starts[i];
    if (s == null) return 'start as m:ss or h:mm:ss';
    if (duration > 0 && s >= duration) return `starts after the end (${formatClock(duration)})`;
    if (starts.findIndex((x) => x === s) !== i) return 'another chapter starts at the same time';
    return null;
  });
}
