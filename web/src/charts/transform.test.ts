import { bucketLabel, bucketize, nearest, niceTicks, stats, timeTicks, typicalStep } from './transform';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 25, 0, 0, 0);

/** One sample a minute from `start` for `minutes`, value `f(i)`. */
const minutes = (start: number, count: number, f: (i: number) => number) =>
  Array.from({ length: count }, (_, i) => ({ t: start + i * MIN, v: f(i) }));

describe('chart transforms', () => {
  it('keeps every sample when they fit, one point per minute', () => {
    const s = minutes(T0, 30, (i) => i);
    const { points, bucketMs } = bucketize(s, { from: T0, to: T0 + 30 * MIN, maxPoints: 240, agg: 'avg' });
    expect(bucketMs).toBe(MIN);
    expect(points).toHaveLength(30);
    expect(points[0]).toEqual({ t: T0 + MIN / 2, v: 0 });
    expect(points[29].v).toBe(29);
  });

  it('downsamples a day of minute samples to at most maxPoints buckets', () => {
    const s = minutes(T0, 24 * 60, (i) => (i % 2 ? 10 : 0));
    const avg = bucketize(s, { from: T0, to: T0 + DAY, maxPoints: 240, agg: 'avg' });
    // 6 min would do; buckets are round, so 10 min.
    expect(avg.bucketMs).toBe(10 * MIN);
    expect(avg.points).toHaveLength(144);
    expect(avg.points.every((p) => p.v === 5)).toBe(true);
    const sum = bucketize(s, { from: T0, to: T0 + DAY, maxPoints: 240, agg: 'sum' });
    expect(sum.points.every((p) => p.v === 50)).toBe(true);
    expect(bucketize(s, { from: T0, to: T0 + 7 * DAY, maxPoints: 240, agg: 'sum' }).bucketMs).toBe(HOUR);
    const max = bucketize(s, { from: T0, to: T0 + DAY, maxPoints: 240, agg: 'max' });
    expect(max.points.every((p) => p.v === 10)).toBe(true);
  });

  it('breaks the line where the stream was offline, not on a late sample', () => {
    const jittery = [...minutes(T0, 10, () => 1), { t: T0 + 11 * MIN + 5000, v: 1 }];
    expect(bucketize(jittery, { from: T0, to: T0 + HOUR, maxPoints: 600, agg: 'avg' }).points.some((p) => p.v === null)).toBe(false);
    const twoStreams = [...minutes(T0, 10, () => 3), ...minutes(T0 + 2 * HOUR, 10, () => 7)];
    const { points } = bucketize(twoStreams, { from: T0, to: T0 + 3 * HOUR, maxPoints: 600, agg: 'avg' });
    const gap = points.findIndex((p) => p.v === null);
    expect(gap).toBe(10);
    expect(points).toHaveLength(21);
    expect(stats(points)).toEqual({ peak: 7, avg: 5 });
  });

  it('ignores samples outside the range and sorts the rest', () => {
    const s = [{ t: T0 + 2 * MIN, v: 2 }, { t: T0 - MIN, v: 99 }, { t: T0 + MIN, v: 1 }];
    expect(bucketize(s, { from: T0, to: T0 + 10 * MIN, maxPoints: 100, agg: 'avg' }).points.map((p) => p.v)).toEqual([1, 2]);
    expect(typicalStep([])).toBe(MIN);
    expect(typicalStep([0, 30_000, 60_000, 200_000])).toBe(30_000);
  });

  it('y ticks are round numbers from 0 past the maximum', () => {
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(niceTicks(3)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(42)).toEqual([0, 20, 40, 60]);
    expect(niceTicks(100)).toEqual([0, 50, 100]);
    expect(niceTicks(1234)).toEqual([0, 500, 1000, 1500]);
  });

  it('time ticks fall on round local times', () => {
    const day = timeTicks(T0 + 7 * MIN, T0 + DAY + 7 * MIN, 6, 0);
    expect(day.step).toBe(6 * HOUR);
    expect(day.ticks.map((t) => (t - T0) / HOUR)).toEqual([6, 12, 18, 24]);
    // At UTC+2, round local hours are 2 hours off UTC's.
    const shifted = timeTicks(T0, T0 + DAY, 6, 2 * HOUR);
    expect(shifted.ticks.map((t) => (t - T0) / HOUR)).toEqual([4, 10, 16, 22]);
    const month = timeTicks(T0, T0 + 30 * DAY, 6, 0);
    expect(month.step).toBe(7 * DAY);
    const short = timeTicks(T0, T0 + 20 * MIN, 6, 0);
    expect(short.step).toBe(5 * MIN);
    expect(short.ticks).toHaveLength(5);
  });

  it('names bucket sizes and finds the nearest point', () => {
    expect(bucketLabel(6 * MIN)).toBe('6 min');
    expect(bucketLabel(3 * HOUR)).toBe('3 h');
    expect(bucketLabel(DAY)).toBe('1 day');
    const pts = [{ t: 0, v: 1 }, { t: 10, v: null }, { t: 20, v: 2 }];
    expect(nearest(pts, 11)).toBe(2);
    expect(nearest([], 5)).toBe(-1);
  });
});

describe('chart drawing helpers', () => {
  it('finds the points a line cannot draw', async () => {
    const { isolated } = await import('./Chart');
    const pts = [{ t: 0, v: 1 }, { t: 1, v: null }, { t: 2, v: 2 }, { t: 3, v: 3 }, { t: 4, v: null }, { t: 5, v: 4 }];
    expect(isolated(pts).map((p) => p.t)).toEqual([0, 5]);
    expect(isolated([{ t: 0, v: 7 }])).toHaveLength(1);
  });
});
