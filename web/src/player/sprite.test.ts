import { cueAt, parseSpriteVtt, parseVttTime } from './sprite';

const VTT = `WEBVTT

00:00:00.000 --> 00:00:05.000
sprite.jpg#xywh=0,0,160,90

2
00:00:05.000 --> 00:00:10.000 align:start
sprite.jpg#xywh=160,0,160,90

00:00:10.000 --> 00:00:15.000
no-fragment.jpg

01:00:10.500 --> 01:00:15.250
https://cdn.example/v/sheet2.jpg#xywh=0,90,160,90
`;

describe('sprite VTT', () => {
  it('reads WebVTT timestamps with and without hours', () => {
    expect(parseVttTime('00:01:02.500')).toBe(62.5);
    expect(parseVttTime('01:02.5')).toBe(62.5);
    expect(parseVttTime('1:00:00.000')).toBe(3600);
    expect(parseVttTime('soon')).toBeNull();
  });

  it('parses each tile with its times, resolved against the VTT address, skipping cues without #xywh', () => {
    const cues = parseSpriteVtt(VTT, '/vod/abc/sprite.vtt');
    expect(cues).toEqual([
      { start: 0, end: 5, url: '/vod/abc/sprite.jpg', x: 0, y: 0, w: 160, h: 90 },
      { start: 5, end: 10, url: '/vod/abc/sprite.jpg', x: 160, y: 0, w: 160, h: 90 },
      { start: 3610.5, end: 3615.25, url: 'https://cdn.example/v/sheet2.jpg', x: 0, y: 90, w: 160, h: 90 },
    ]);
  });

  it('reads CRLF files', () => {
    expect(parseSpriteVtt(VTT.replace(/\n/g, '\r\n'), '/vod/abc/sprite.vtt')).toHaveLength(3);
  });

  it('finds the tile of a time, and none in a gap', () => {
    const cues = parseSpriteVtt(VTT, '/vod/abc/sprite.vtt');
    expect(cueAt(cues, 0)?.x).toBe(0);
    expect(cueAt(cues, 4.99)?.x).toBe(0);
    expect(cueAt(cues, 5)?.x).toBe(160);
    expect(cueAt(cues, 12)).toBeNull();
    expect(cueAt(cues, 3612)?.y).toBe(90);
    // Just past the end (a rounded duration): still the last tile.
    expect(cueAt(cues, 3615.5)?.y).toBe(90);
    expect(cueAt([], 3)).toBeNull();
  });
});
