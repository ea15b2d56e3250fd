// Moderator chat commands (`/ban user reason`, `/timeout user 10m`, ...). Pure: this file only
// turns the text typed into a command or an error to show; `ChatPanel` runs it through the
// same REST calls the user card and the chat settings use.
import { formatDuration } from '../format';

/** The server's limits (actors/src/chat/room.rs). */
export const MAX_TIMEOUT_SECS = 14 * 24 * 3600;
export const MAX_SLOW_SECS = 3600;
export const MAX_FOLLOW_MINUTES = 90 * 24 * 60;
/** A timeout without a duration lasts this long. */
export const DEFAULT_TIMEOUT_SECS = 600;

export type Command =
  | { kind: 'ban'; user: string; reason?: string }
  | { kind: 'unban'; user: string }
  | { kind: 'timeout'; user: string; seconds: number; reason?: string }
  | { kind: 'untimeout'; user: string }
  /** 0: off */
  | { kind: 'slow'; seconds: number }
  /** null: off; otherwise the minutes one must have followed */
  | { kind: 'followers'; minutes: number | null }
  | { kind: 'help' };

export type Parsed = { ok: true; command: Command } | { ok: false; error: string };

/** What `/help` lists, one line per command. */
export const HELP: string[] = [
  '/ban user [reason]: ban until lifted',
  '/unban user: lift a ban',
  `/timeout user [duration] [reason]: e.g. 10m, 600, 1h (default ${formatDuration(DEFAULT_TIMEOUT_SECS)})`,
  '/untimeout user: lift a timeout',
  '/slow seconds|off: slow mode (e.g. 30, 2m)',
  '/followers [minutes]|off: followers-only, optionally for followers of at least that long (e.g. 10, 1h, 7d)',
  '/help: this list',
];

const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * A duration as typed: `600` (in `bare` units, seconds by default), `90s`, `10m`, `1h`, `2d`,
 * `1w`, or a run of them (`1h30m`). Seconds, or null when it is not a duration.
 */
export function parseDuration(text: string, bare = 1): number | null {
  const t = text.trim().toLowerCase();
  if (/^\d+$/.test(t)) return Number(t) * bare;
  if (!/^(\d+[smhdw])+$/.test(t)) return null;
  let total = 0;
  for (const [, n, u] of t.matchAll(/(\d+)([smhdw])/g)) total += Number(n) * UNIT[u];
  return total;
}

const USERNAME = /^@?([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})$/;

function user(token: string | undefined, usage: string): string | { error: string } {
  if (!token) return { error: `Usage: ${usage}` };
  const m = USERNAME.exec(token);
  return m ? m[1] : { error: `"${token}" is not a username. Usage: ${usage}` };
}

/** null: not a command (send it as a message). */
export function parseCommand(text: string): Parsed | null {
  const t = text.trim();
  if (!t.startsWith('/')) return null;
  const [head, ...rest] = t.split(/\s+/);
  const name = head.slice(1).toLowerCase();
  const fail = (error: string): Parsed => ({ ok: false, error });
  const done = (command: Command): Parsed => ({ ok: true, command });
  const reasonFrom = (i: number) => rest.slice(i).join(' ').trim() || undefined;
  switch (name) {
    case 'ban': {
      const u = user(rest[0], '/ban user [reason]');
      if (typeof u !== 'string') return fail(u.error);
      const reason = reasonFrom(1);
      return done(reason ? { kind: 'ban', user: u, reason } : { kind: 'ban', user: u });
    }
    case 'unban':
    case 'untimeout': {
      const u = user(rest[0], `/${name} user`);
      if (typeof u !== 'string') return fail(u.error);
      if (rest.length > 1) return fail(`Usage: /${name} user`);
      return done(name === 'unban' ? { kind: 'unban', user: u } : { kind: 'untimeout', user: u });
    }
    case 'timeout': {
      const usage = '/timeout user [duration] [reason]';
      const u = user(rest[0], usage);
      if (typeof u !== 'string') return fail(u.error);
      let seconds = DEFAULT_TIMEOUT_SECS;
      let from = 1;
      const d = rest[1];
      if (d !== undefined && /^\d/.test(d)) {
        const s = parseDuration(d);
        if (s == null) return fail(`"${d}" is not a duration: try 600, 10m or 1h.`);
        if (s < 1 || s > MAX_TIMEOUT_SECS) return fail(`A timeout lasts from 1 second to ${formatDuration(MAX_TIMEOUT_SECS)}.`);
        seconds = s;
        from = 2;
      }
      const reason = reasonFrom(from);
      return done(reason ? { kind: 'timeout', user: u, seconds, reason } : { kind: 'timeout', user: u, seconds });
    }
    case 'slow': {
      const a = rest[0];
      if (a === undefined || rest.length > 1) return fail('Usage: /slow seconds|off');
      if (a.toLowerCase() === 'off') return done({ kind: 'slow', seconds: 0 });
      const s = parseDuration(a);
      if (s == null) return fail(`"${a}" is not a duration: try 30, 2m or off.`);
      if (s > MAX_SLOW_SECS) return fail(`Slow mode is at most ${formatDuration(MAX_SLOW_SECS)}.`);
      return done({ kind: 'slow', seconds: s });
    }
    case 'followers': {
      const a = rest[0];
      if (rest.length > 1) return fail('Usage: /followers [minutes]|off');
      if (a === undefined) return done({ kind: 'followers', minutes: 0 });
      if (a.toLowerCase() === 'off') return done({ kind: 'followers', minutes: null });
      const s = parseDuration(a, 60);
      if (s == null || s % 60 !== 0) return fail(`"${a}" is not a number of minutes: try 10, 1h or 7d.`);
      if (s / 60 > MAX_FOLLOW_MINUTES) return fail(`Followers-only asks for at most ${formatDuration(MAX_FOLLOW_MINUTES * 60)} of following.`);
      return done({ kind: 'followers', minutes: s / 60 });
    }
    case 'help':
    case 'commands':
      return done({ kind: 'help' });
    default:
      return fail(`Unknown command ${head}. Type /help for the list.`);
  }
}
