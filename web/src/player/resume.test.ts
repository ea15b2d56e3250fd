import { resumePosition, savePosition, worthResuming } from './resume';

function memory() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    size: () => m.size,
  };
}

describe('resume', () => {
  it('is offered past 10 s and not in the last 15 s', () => {
    expect(worthResuming(5, 600)).toBe(false);
    expect(worthResuming(10, 600)).toBe(false);
    expect(worthResuming(11, 600)).toBe(true);
    expect(worthResuming(584, 600)).toBe(true);
    expect(worthResuming(590, 600)).toBe(false);
    // Duration not known yet: only the start counts.
    expect(worthResuming(300, 0)).toBe(true);
    expect(worthResuming(NaN, 600)).toBe(false);
  });

  it('remembers the position per video, and forgets it near the start or the end', () => {
    const s = memory();
    savePosition('a', 125.7, 600, s);
    savePosition('b', 40, 600, s);
    expect(resumePosition('a', 600, s)).toBe(125);
    expect(resumePosition('b', 600, s)).toBe(40);
    expect(resumePosition('c', 600, s)).toBeNull();
    savePosition('a', 595, 600, s);
    expect(resumePosition('a', 600, s)).toBeNull();
    savePosition('b', 3, 600, s);
    expect(resumePosition('b', 600, s)).toBeNull();
    expect(s.size()).toBe(0);
  });

  it('does not offer a stored position the video has become too short for', () => {
    const s = memory();
    savePosition('a', 100, 0, s);
    expect(resumePosition('a', 110, s)).toBeNull();
    expect(resumePosition('a', 600, s)).toBe(100);
  });

  it('survives storage that throws', () => {
    const broken = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('full');
      },
      removeItem: () => {},
    };
    expect(() => savePosition('a', 100, 600, broken)).not.toThrow();
    expect(resumePosition('a', 600, broken)).toBeNull();
  });
});
