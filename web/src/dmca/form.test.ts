import { describe, expect, it } from 'vitest';
import { EMPTY_COUNTER, EMPTY_NOTICE, counterProblems, itemUrlProblem, noticeProblems, urlLines, waitInWords } from './form';

const HERE = 'https://watch.example.com';

const good = {
  ...EMPTY_NOTICE,
  claimant_name: 'Rights Holder Ltd',
  claimant_email: 'legal@rights.example',
  claimant_contact: '1 Music Row, Nashville; +1 555 0100',
  work_description: 'The song "Example"',
  urls: `${HERE}/v/abc123\n\n  ${HERE}/clip/c1  \n`,
  good_faith: true,
  accurate: true,
  signature: 'Jane Holder',
};

describe('the notice form', () => {
  it('accepts a complete notice', () => {
    expect(noticeProblems(good, HERE)).toEqual({});
    expect(urlLines(good.urls)).toEqual([`${HERE}/v/abc123`, `${HERE}/clip/c1`]);
  });

  it('names every missing field and both statements', () => {
    expect(Object.keys(noticeProblems(EMPTY_NOTICE, HERE))).toEqual([
      'claimant_name',
      'claimant_email',
      'claimant_contact',
      'work_description',
      'urls',
      'good_faith',
      'accurate',
      'signature',
    ]);
  });

  it('names the first URL that is not a video or clip here', () => {
    const p = noticeProblems({ ...good, urls: `${HERE}/v/ok\nhttps://elsewhere.example/v/x` }, HERE);
    expect(p.urls).toBe('https://elsewhere.example/v/x: not an address on this server');
    expect(noticeProblems({ ...good, urls: Array(21).fill(`${HERE}/v/a`).join('\n') }, HERE).urls).toMatch(/1 to 20/);
  });

  it('reads the same addresses as the server', () => {
    expect(itemUrlProblem(`${HERE}/vod/abc/source/1.ts`, HERE)).toBeNull();
    expect(itemUrlProblem(`${HERE}/clips/abc/clip.mp4`, HERE)).toBeNull();
    expect(itemUrlProblem(`${HERE}/v/abc?t=30`, HERE)).toBeNull();
    expect(itemUrlProblem(`${HERE}/c/somechannel`, HERE)).toBe('not the address of a video or a clip');
    expect(itemUrlProblem(`${HERE}/v/`, HERE)).toBe('not the address of a video or a clip');
    expect(itemUrlProblem('http://watch.example.com/v/abc', HERE)).toBe('not an address on this server');
    expect(itemUrlProblem('no url', HERE)).toBe('not a URL');
  });
});

describe('the counter-notice form', () => {
  it('needs both statements and a signature', () => {
    expect(Object.keys(counterProblems(EMPTY_COUNTER))).toEqual([
      'full_name',
      'contact',
      'statement',
      'good_faith',
      'consent_to_jurisdiction',
      'signature',
    ]);
    const ok = { full_name: 'A', contact: 'B', statement: 'C', good_faith: true, consent_to_jurisdiction: true, signature: 'A' };
    expect(counterProblems(ok)).toEqual({});
  });

  it('says the wait in words', () => {
    expect(waitInWords(864000)).toBe('10 days');
    expect(waitInWords(2)).toBe('2 seconds');
  });
});
