import { describe, expect, it } from 'vitest';
import { mentions, splitMentions } from './mentions';

describe('mentions', () => {
  it('finds @username in any case, as a whole name', () => {
    expect(mentions('hi @ann!', 'ann')).toBe(true);
    expect(mentions('@ANN look', 'ann')).toBe(true);
    expect(mentions('hey @Ann.', 'aNN')).toBe(true);
    expect(mentions('@anna hi', 'ann')).toBe(false);
    expect(mentions('mail ann@ann.org', 'ann')).toBe(false);
    expect(mentions('x@ann', 'ann')).toBe(false);
    expect(mentions('ann without at', 'ann')).toBe(false);
    expect(mentions('@ann', null)).toBe(false);
  });

  it('escapes names with regex characters', () => {
    expect(mentions('@a.b hi', 'a.b')).toBe(true);
    expect(mentions('@axb hi', 'a.b')).toBe(false);
  });

  it('splits text into runs with the mentions marked', () => {
    expect(splitMentions('hi @Ann and @ann.', 'ann')).toEqual([
      { text: 'hi ', mention: false },
      { text: '@Ann', mention: true },
      { text: ' and ', mention: false },
      { text: '@ann', mention: true },
      { text: '.', mention: false },
    ]);
    expect(splitMentions('@ann', 'ann')).toEqual([{ text: '@ann', mention: true }]);
    expect(splitMentions('nothing', 'ann')).toEqual([{ text: 'nothing', mention: false }]);
    expect(splitMentions('', 'ann')).toEqual([{ text: '', mention: false }]);
  });
});
