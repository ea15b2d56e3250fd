// The DMCA forms' rules (http/src/api/dmca.rs), checked in the browser before sending so every
// problem is marked at once; the server checks again and names the same fields.
import { email, text, type Problems } from '../validate';

/** What the public notice form holds (URLs one per line). */
export type NoticeForm = {
  claimant_name: string;
  claimant_email: string;
  claimant_contact: string;
  work_description: string;
  urls: string;
  good_faith: boolean;
  accurate: boolean;
  signature: string;
};

export const EMPTY_NOTICE: NoticeForm = {
  claimant_name: '',
  claimant_email: '',
  claimant_contact: '',
  work_description: '',
  urls: '',
  good_faith: false,
  accurate: false,
  signature: '',
};

export type CounterForm = {
  full_name: string;
  contact: string;
  statement: string;
  good_faith: boolean;
  consent_to_jurisdiction: boolean;
  signature: string;
};

export const EMPTY_COUNTER: CounterForm = {
  full_name: '',
  contact: '',
  statement: '',
  good_faith: false,
  consent_to_jurisdiction: false,
  signature: '',
};

export const MAX_URLS = 20;

/** The form's URLs: one per line, blank lines dropped. */
export function urlLines(urls: string): string[] {
  return urls
    .split('\n')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}

/** Why `url` is not a video or clip of the server at `origin`; null when it is. */
export function itemUrlProblem(url: string, origin: string): string | null {
  let u: URL;
  let here: URL;
  try {
    u = new URL(url);
    here = new URL(origin);
  } catch {
    return 'not a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'not a web address';
  if (u.host.toLowerCase() !== here.host.toLowerCase() || u.protocol !== here.protocol) return 'not an address on this server';
  const ok = /^\/(v|clip|vod|clips|api\/v1\/videos|api\/v1\/clips)\/[A-Za-z0-9_-]{1,64}(\/|$)/.test(u.pathname);
  const page = /^\/(v|clip|api\/v1\/videos|api\/v1\/clips)\/[^/]+\/./.test(u.pathname);
  return ok && !page ? null : 'not the address of a video or a clip';
}

const collect = (checks: [string, string | null][]): Problems =>
  Object.fromEntries(checks.filter((c): c is [string, string] => c[1] !== null));

export function noticeProblems(f: NoticeForm, origin: string): Problems {
  const urls = urlLines(f.urls);
  let urlProblem: string | null = null;
  if (urls.length === 0 || urls.length > MAX_URLS) urlProblem = `give 1 to ${MAX_URLS} addresses of videos or clips on this server`;
  else {
    for (const u of urls) {
      const why = itemUrlProblem(u, origin);
      if (why) {
        urlProblem = `${u}: ${why}`;
        break;
      }
    }
  }
  return collect([
    ['claimant_name', text(f.claimant_name, 1, 200)],
    ['claimant_email', email(f.claimant_email)],
    ['claimant_contact', text(f.claimant_contact, 1, 500)],
    ['work_description', text(f.work_description, 1, 5000)],
    ['urls', urlProblem],
    ['good_faith', f.good_faith ? null : 'the good-faith statement is required'],
    ['accurate', f.accurate ? null : 'the accuracy statement is required'],
    ['signature', text(f.signature, 1, 200)],
  ]);
}

export function counterProblems(f: CounterForm): Problems {
  return collect([
    ['full_name', text(f.full_name, 1, 200)],
    ['contact', text(f.contact, 1, 500)],
    ['statement', text(f.statement, 1, 5000)],
    ['good_faith', f.good_faith ? null : 'the good-faith statement is required'],
    ['consent_to_jurisdiction', f.consent_to_jurisdiction ? null : "consent to the court's jurisdiction is required"],
    ['signature', text(f.signature, 1, 200)],
  ]);
}

/** A waiting period in words: "10 days", "36 hours", "90 seconds". */
export function waitInWords(secs: number): string {
  if (secs >= 2 * 86400) return `${Math.round(secs / 86400)} days`;
  if (secs >= 2 * 3600) return `${Math.round(secs / 3600)} hours`;
  if (secs >= 120) return `${Math.round(secs / 60)} minutes`;
  return `${secs} seconds`;
}
