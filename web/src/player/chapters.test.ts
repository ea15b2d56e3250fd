import { chapterIndexAt, chapterProblems, formatClock, formatLength, parseClock, sortChapters } from './chapters';
import { chapterProblemRow } from '../pages/DashboardVideos';

describe('chapter times', () => {
  it('parses seconds, m:ss and h:mm:ss', () => {
    expect(parseClock('0')).toBe(0);
    expect(parseClock('45')).toBe(45);
    expect(parseClock('1:05')).toBe(65);
    expect(parseClock(' 12:00 ')).toBe(720);
    expect(parseClock('1:02:03')).toBe(3723);
  });

  it('refuses what is not a clock time', () => {
    for (const bad of ['', '1:60', '1:5:99', 'a:00', '1:', ':30', '-1:00', '1.5', '1:02:03:04']) expect(parseClock(bad)).toBeNull();
  });

  it('formats as m:ss, and h:mm:ss from an hour', () => {
    expect(formatClock(0)).toBe('0:00');
    expect(formatClock(65.9)).toBe('1:05');
    expect(formatClock(3723)).toBe('1:02:03');
    expect(formatClock(NaN)).toBe('0:00');
    expect(parseClock(formatClock(4000))).toBe(4000);
  });

  it('rounds a length where a position is rounded down', () => {
    expect(formatClock(11.97)).toBe('0:11');
    expect(formatLength(11.97)).toBe('0:12');
    expect(formatLength(95.4)).toBe('1:35');
    expect(formatLength(NaN)).toBe('0:00');
  });

  it('finds the chapter playing at a time', () => {
    const sorted = sortChapters([
      { title: 'B', start: 60 },
      { title: 'A', start: 0 },
      { title: 'C', start: 120 },
    ]);
    expect(sorted.map((c) => c.title)).toEqual(['A', 'B', 'C']);
    expect(chapterIndexAt(sorted, 0)).toBe(0);
    expect(chapterIndexAt(sorted, 59.9)).toBe(0);
    expect(chapterIndexAt(sorted, 60)).toBe(1);
    expect(chapterIndexAt(sorted, 500)).toBe(2);
    expect(chapterIndexAt(sortChapters([{ title: 'late', start: 10 }]), 5)).toBe(-1);
  });

  it('says what is wrong with each row of the editor', () => {
    expect(
      chapterProblems(
        [
          { title: 'Intro', start: '0:00' },
          { title: '', start: '0:30' },
          { title: 'Bad', start: '1:75' },
          { title: 'Late', start: '5:00' },
          { title: 'Twin', start: '0' },
        ],
        240,
      ),
    ).toEqual([null, 'give the chapter a title', 'start as m:ss or h:mm:ss', 'starts after the end (4:00)', 'another chapter starts at the same time']);
  });

  it('maps the server’s “chapter N:” problems to editor rows', () => {
    expect(chapterProblemRow('chapters', 'chapter 3: must start after chapter 2')).toEqual({ row: 2, message: 'must start after chapter 2' });
    expect(chapterProblemRow('chapters', 'at most 100 chapters')).toBeNull();
    expect(chapterProblemRow('title', 'chapter 1: x')).toBeNull();
  });
});
