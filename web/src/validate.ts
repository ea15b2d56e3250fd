// The server's field rules (http/src/validate.rs), checked in the browser before a form is sent,
// so every invalid field is marked at once without a round trip. The server checks again and
// answers a 422 naming every field (`fields`); `fieldErrors` in pages/Auth.tsx shows those the
// same way. Messages match the server's, so a field reads the same whichever side caught it.

/** Field name to the message shown next to it; empty when the form is valid. */
export type Problems = Record<string, string>;

const chars = (s: string) => [...s].length;
// Control characters other than a newline (the server refuses them in text fields).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

export function username(v: string): string | null {
  return /^[A-Za-z0-9_]{3,32}$/.test(v) ? null : '3 to 32 characters: letters, digits and _';
}

export function email(v: string): string | null {
  const s = v.trim();
  const at = s.indexOf('@');
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  const ok =
    s.length <= 254 &&
    !/\s/.test(s) &&
    at > 0 &&
    local.length > 0 &&
    !domain.includes('@') &&
    domain.includes('.') &&
    !domain.startsWith('.') &&
    !domain.endsWith('.');
  return ok ? null : 'not a valid email address';
}

export function password(v: string): string | null {
  const n = chars(v);
  return n >= 8 && n <= 128 ? null : 'passwords are 8 to 128 characters';
}

export function slug(v: string): string | null {
  return /^[a-z0-9_-]{3,32}$/.test(v) ? null : '3 to 32 characters: a-z, 0-9, _ and -';
}

/** Trimmed length in characters between `min` and `max`, no control characters. */
export function text(v: string, min: number, max: number): string | null {
  const t = v.trim();
  const n = chars(t);
  if (n < min || n > max) return `${min} to ${max} characters`;
  if (CONTROL.test(t)) return 'control characters are not allowed';
  return null;
}

function collect(checks: [string, string | null][]): Problems {
  const out: Problems = {};
  for (const [field, problem] of checks) if (problem) out[field] = problem;
  return out;
}

export function registerProblems(f: { username: string; email: string; password: string }): Problems {
  return collect([
    ['username', username(f.username)],
    ['email', email(f.email)],
    ['password', password(f.password)],
  ]);
}

export function profileProblems(f: { display_name: string; email: string; bio: string }): Problems {
  return collect([
    ['display_name', text(f.display_name, 1, 64)],
    ['email', email(f.email)],
    ['bio', text(f.bio, 0, 1000)],
  ]);
}

/** A new channel (`slug` given) or an edit of one (no `slug`). */
export function channelProblems(f: { slug?: string; title: string; category: string; description: string }): Problems {
  return collect([
    ['slug', f.slug === undefined ? null : slug(f.slug)],
    ['title', text(f.title, 1, 140)],
    ['category', text(f.category, 0, 64)],
    ['description', text(f.description, 0, 2000)],
  ]);
}

export function passwordProblems(f: { current_password: string; new_password: string }): Problems {
  return collect([
    ['current_password', f.current_password ? null : 'enter your current password'],
    ['new_password', password(f.new_password)],
  ]);
}

export const hasProblems = (p: Problems) => Object.keys(p).length > 0;
