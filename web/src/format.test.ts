import { describe, expect, it } from 'vitest';
import { formatAge, formatDuration, formatUntil } from './format';

describe('formatDuration', () => {
  it('says durations in words', () => {
    expect(formatDuration(600)).toBe('10 minutes');
    expect(formatDuration(1)).toBe('1 second');
    expect(formatDuration(59)).toBe('59 seconds');
    expect(formatDuration(60)).toBe('1 minute');
    expect(formatDuration(3600)).toBe('1 hour');
    expect(formatDuration(5400)).toBe('1 hour 30 minutes');
    expect(formatDuration(86400)).toBe('1 day');
    expect(formatDuration(1209600)).toBe('2 weeks');
    expect(formatDuration(400 * 86400)).toBe('1 year 1 month');
  });

  it('keeps at most the asked number of units, rounding down', () => {
    expect(formatDuration(3725)).toBe('1 hour 2 minutes');
    expect(formatDuration(3725, 1)).toBe('1 hour');
    expect(formatDuration(3725, 3)).toBe('1 hour 2 minutes 5 seconds');
    expect(formatDuration(90.9)).toBe('1 minute 30 seconds');
  });

  it('does not skip a unit in the middle', () => {
    expect(formatDuration(3605)).toBe('1 hour');
  });

  it('reads zero, negative and non-finite as 0 seconds', () => {
    expect(formatDuration(0)).toBe('0 seconds');
    expect(formatDuration(-5)).toBe('0 seconds');
    expect(formatDuration(Number.NaN)).toBe('0 seconds');
  });
});

describe('formatAge and formatUntil', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  it('measures from or to now', () => {
    expect(formatAge('2024-05-01T12:00:00Z', now)).toBe('2 years');
    expect(formatAge('2026-05-31T12:00:00Z', now)).toBe('1 day');
    expect(formatAge('2026-06-01T11:59:30Z', now)).toBe('less than a minute');
    expect(formatUntil('2026-06-01T12:10:00Z', now)).toBe('10 minutes');
    expect(formatUntil('2026-06-01T12:00:20Z', now)).toBe('less than a minute');
    expect(formatUntil('2026-06-01T11:00:00Z', now)).toBe('less than a minute');
  });
});
