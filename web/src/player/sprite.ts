// Seek-preview thumbnails: the WebVTT file the server writes next to a VOD's sprite sheet,
// one cue per tile (`00:00:05.000 --> 00:00:10.000` then `sprite.jpg#xywh=160,0,160,90`).

/** One tile of the sprite sheet and the stretch of the video it shows. */
export type SpriteCue = { start: number; end: number; url: string; x: number; y: number; w: number; h: number };

/** `hh:mm:ss.ttt` or `mm:ss.ttt` (WebVTT timestamps) in seconds, or null. */
export function parseVttTime(s: string): number | null {
  const m = /^(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?$/.exec(s.trim());
  if (!m) return null;
  const [, h, min, sec, ms] = m;
  return Number(h ?? 0) * 3600 + Number(min) * 60 + Number(sec) + (ms ? Number(ms.padEnd(3, '0')) / 1000 : 0);
}

/** `ref` relative to the VTT's own URL; a same-origin result stays a path. */
function resolve(ref: string, base: string): string {
  const probe = 'http://same-origin.invalid';
  const u = new URL(ref, new URL(base, probe));
  return u.origin === probe ? u.pathname + u.search : u.href;
}

/**
 * The cues of a sprite VTT, in file order. `base` is the VTT's URL: tile images are relative to
 * it. Cues without a `#xywh=` fragment or with unreadable times are skipped.
 */
export function parseSpriteVtt(text: string, base: string): SpriteCue[] {
  const out: SpriteCue[] = [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const arrow = lines[i].indexOf('-->');
    if (arrow < 0) continue;
    const start = parseVttTime(lines[i].slice(0, arrow));
    // Cue settings may follow the end time.
    const end = parseVttTime(lines[i].slice(arrow + 3).trim().split(/\s+/)[0] ?? '');
    const payload = (lines[i + 1] ?? '').trim();
    const m = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(payload);
    if (start == null || end == null || !m) continue;
    out.push({ start, end, url: resolve(m[1], base), x: Number(m[2]), y: Number(m[3]), w: Number(m[4]), h: Number(m[5]) });
    i++;
  }
  return out;
}

/** The cue showing second `t` (cues are sorted and do not overlap), or null. */
export function cueAt(cues: SpriteCue[], t: number): SpriteCue | null {
  let lo = 0;
  let hi = cues.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = cues[mid];
    if (t < c.start) hi = mid - 1;
    else if (t >= c.end) lo = mid + 1;
    else return c;
  }
  // Past the last cue's end (a rounded duration): the last tile.
  const last = cues[cues.length - 1];
  return last && t >= last.end && t - last.end < 1 ? last : null;
}
