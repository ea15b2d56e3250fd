// `@username` mentions of the reader: case-insensitive, and only as a whole name that does not
// follow a word (`@ann` is in "hi @Ann!", not in "@anna" nor in "mail x@ann.org").

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}

function pattern(username: string): RegExp {
  return new RegExp(`(?<![A-Za-z0-9_.@-])@${escape(username)}(?![A-Za-z0-9_-])`, 'gi');
}

/** Whether `text` mentions `username` (no user: never). */
export function mentions(text: string, username: string | null | undefined): boolean {
  return Boolean(username) && pattern(username!).test(text);
}

/** `text` in runs, the mentions of `username` marked, so they can be drawn highlighted. */
export function splitMentions(text: string, username: string | null | undefined): { text: string; mention: boolean }[] {
  if (!username) return [{ text, mention: false }];
  const out: { text: string; mention: boolean }[] = [];
  let at = 0;
  for (const m of text.matchAll(pattern(username))) {
    const i = m.index ?? 0;
    if (i > at) out.push({ text: text.slice(at, i), mention: false });
    out.push({ text: m[0], mention: true });
    at = i + m[0].length;
  }
  if (at < text.length || out.length === 0) out.push({ text: text.slice(at), mention: false });
  return out;
}
