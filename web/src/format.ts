/**
 * Durations in words, for people: `formatDuration(600)` is "10 minutes", not "600 s".
 * Pure functions, no locale lookups, so they read the same in tests and in every browser.
 */

const UNITS: [seconds: number, one: string, many: string][] = [
  [365 * 86400, 'year', 'years'],
  [30 * 86400, 'month', 'months'],
  [7 * 86400, 'week', 'weeks'],
  [86400, 'day', 'days'],
  [3600, 'hour', 'hours'],
  [60, 'minute', 'minutes'],
  [1, 'second', 'seconds'],
];

/**
 * `seconds` in words with at most `parts` units, largest first, the rest dropped (rounded down):
 * 600 -> "10 minutes", 5400 -> "1 hour 30 minutes", 1209600 -> "2 weeks", 0 -> "0 seconds".
 * Negative or non-finite input reads as 0.
 */
export function formatDuration(seconds: number, parts = 2): string {
  let rest = Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
  if (rest === 0) return '0 seconds';
  const out: string[] = [];
  for (const [size, one, many] of UNITS) {
    if (out.length >= parts) break;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out.push(`${n} ${n === 1 ? one : many}`);
      rest -= n * size;
    } else if (out.length > 0) {
      // "1 hour 5 seconds" skips a unit and reads oddly: stop at the first gap after the largest.
      break;
    }
  }
  return out.join(' ');
}

/** The time from `iso` to `now` in words ("3 months"), or "less than a minute". */
export function formatAge(iso: string, now = Date.now(), parts = 1): string {
  const s = (now - new Date(iso).getTime()) / 1000;
  if (!(s >= 60)) return 'less than a minute';
  return formatDuration(s, parts);
}

/** The time from `now` until `iso` in words ("9 minutes"), "less than a minute" when under one. */
export function formatUntil(iso: string, now = Date.now(), parts = 2): string {
  const s = (new Date(iso).getTime() - now) / 1000;
  if (!(s >= 60)) return 'less than a minute';
  return formatDuration(s, parts);
}
