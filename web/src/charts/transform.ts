// From analytics samples to what a chart draws: time buckets (downsampling to a few hundred
// points whatever the range), gaps where the channel was offline, and round axis ticks. Pure and
// unit-tested; the SVG components only scale and draw.

export type Point = { /** ms since the epoch, the bucket's middle */ t: number; /** `null` marks a gap */ v: number | null };
export type Agg = 'avg' | 'max' | 'sum';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const BUCKETS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY];

/** The typical spacing of the samples (their median interval); `fallback` with fewer than two. */
export function typicalStep(times: number[], fallback = MINUTE): number {
  if (times.length < 2) return fallback;
  const d: number[] = [];
  for (let i = 1; i < times.length; i++) if (times[i] > times[i - 1]) d.push(times[i] - times[i - 1]);
  if (!d.length) return fallback;
  d.sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)];
}

/**
 * Buckets `(t, v)` samples between `from` and `to` into at most `maxPoints` buckets of a round
 * length, aggregated with `agg`. Empty buckets are left out; a run of more than two empty ones (the stream was off)
 * becomes one `null` point so lines break there instead of drawing across.
 */
export function bucketize(
  samples: { t: number; v: number }[],
  opts: { from: number; to: number; maxPoints: number; agg: Agg },
): { points: Point[]; bucketMs: number } {
  const { from, to, maxPoints, agg } = opts;
  const inRange = samples.filter((s) => s.t >= from && s.t <= to).sort((a, b) => a.t - b.t);
  const step = typicalStep(inRange.map((s) => s.t));
  const wanted = Math.max(step, Math.ceil((to - from) / Math.max(1, maxPoints)));
  // A round bucket ("per 10 min", "per hour") unless the samples themselves are that fine.
  const bucketMs = wanted === step ? step : (BUCKETS.find((b) => b >= wanted) ?? Math.ceil(wanted / DAY) * DAY);
  const buckets = new Map<number, { sum: number; max: number; n: number }>();
  for (const s of inRange) {
    const i = Math.floor((s.t - from) / bucketMs);
    const b = buckets.get(i) ?? { sum: 0, max: -Infinity, n: 0 };
    b.sum += s.v;
    b.max = Math.max(b.max, s.v);
    b.n += 1;
    buckets.set(i, b);
  }
  const points: Point[] = [];
  let prev: number | null = null;
  for (const i of [...buckets.keys()].sort((a, b) => a - b)) {
    const b = buckets.get(i)!;
    if (prev !== null && i - prev > 2) points.push({ t: from + (prev + 1) * bucketMs, v: null });
    const v = agg === 'sum' ? b.sum : agg === 'max' ? b.max : b.sum / b.n;
    points.push({ t: from + i * bucketMs + bucketMs / 2, v });
    prev = i;
  }
  return { points, bucketMs };
}

/** Round ticks from 0 up to at least `max` (steps of 1, 2 or 5 × 10ⁿ, whole numbers). */
export function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow);
  const top = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(Math.round(v));
  return ticks;
}

const TIME_STEPS = [MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];

/**
 * Ticks for a time axis: at most `max` of them on round local times (every 15 min, 3 h, day…).
 * `tzOffsetMs` is local time minus UTC (`-getTimezoneOffset()` in ms).
 */
export function timeTicks(from: number, to: number, max = 6, tzOffsetMs = -new Date(from).getTimezoneOffset() * MINUTE): { ticks: number[]; step: number } {
  const span = Math.max(1, to - from);
  const step = TIME_STEPS.find((s) => span / s <= max) ?? Math.ceil(span / max / DAY) * DAY;
  const first = Math.ceil((from + tzOffsetMs) / step) * step - tzOffsetMs;
  const ticks: number[] = [];
  for (let t = first; t <= to; t += step) ticks.push(t);
  return { ticks, step };
}

/** A tick's label: dates for day steps, else the clock (with the date at midnight on long ranges). */
export function tickLabel(t: number, step: number, span: number): string {
  const d = new Date(t);
  if (step >= DAY || (span > DAY && d.getHours() === 0 && d.getMinutes() === 0)) {
    return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  }
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** "12 min", "1 h", "1 day": how long one bucket is, for chart captions. */
export function bucketLabel(ms: number): string {
  if (ms < HOUR) return `${Math.max(1, Math.round(ms / MINUTE))} min`;
  if (ms < DAY) return `${Math.round((ms / HOUR) * 10) / 10} h`;
  const d = Math.round((ms / DAY) * 10) / 10;
  return `${d} ${d === 1 ? 'day' : 'days'}`;
}

/** Peak and average of the non-gap values (0 for none). */
export function stats(points: Point[]): { peak: number; avg: number } {
  const v = points.flatMap((p) => (p.v === null ? [] : [p.v]));
  if (!v.length) return { peak: 0, avg: 0 };
  return { peak: Math.max(...v), avg: v.reduce((a, b) => a + b, 0) / v.length };
}

/** The index of the point nearest `t` (ignoring gaps), or -1. */
export function nearest(points: Point[], t: number): number {
  let best = -1;
  let dist = Infinity;
  points.forEach((p, i) => {
    if (p.v === null) return;
    const d = Math.abs(p.t - t);
    if (d < dist) {
      dist = d;
      best = i;
    }
  });
  return best;
}

/** The preset ranges of the analytics page. */
export const RANGES = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY } as const;
export type RangeKey = keyof typeof RANGES;
