import { describe, expect, it } from 'vitest';
import { parseCommand, parseDuration } from './commands';

const ok = (text: string) => {
  const p = parseCommand(text);
  if (!p || !p.ok) throw new Error(`${text}: ${JSON.stringify(p)}`);
  return p.command;
};
const err = (text: string) => {
  const p = parseCommand(text);
  if (!p || p.ok) throw new Error(`${text} parsed: ${JSON.stringify(p)}`);
  return p.error;
};

describe('parseDuration', () => {
  it('reads bare numbers and units', () => {
    expect(parseDuration('600')).toBe(600);
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('10m')).toBe(600);
    expect(parseDuration('1H')).toBe(3600);
    expect(parseDuration('1h30m')).toBe(5400);
    expect(parseDuration('2d')).toBe(172800);
    expect(parseDuration('1w')).toBe(604800);
    expect(parseDuration('10', 60)).toBe(600);
  });
  it('refuses anything else', () => {
    for (const t of ['', 'm', '10x', '1.5h', '-5', '10 m', 'ten']) expect(parseDuration(t)).toBeNull();
  });
});

describe('parseCommand', () => {
  it('leaves plain messages alone', () => {
    expect(parseCommand('hello /ban x')).toBeNull();
    expect(parseCommand('  hi')).toBeNull();
  });

  it('bans and unbans, with an optional reason and @', () => {
    expect(ok('/ban troll')).toEqual({ kind: 'ban', user: 'troll' });
    expect(ok('/BAN @troll  spam   links')).toEqual({ kind: 'ban', user: 'troll', reason: 'spam links' });
    expect(ok('/unban troll')).toEqual({ kind: 'unban', user: 'troll' });
    expect(ok('/untimeout @troll')).toEqual({ kind: 'untimeout', user: 'troll' });
    expect(err('/ban')).toBe('Usage: /ban user [reason]');
    expect(err('/unban troll extra')).toBe('Usage: /unban user');
    expect(err('/ban !!')).toMatch(/not a username/);
  });

  it('times out for a duration in any form, 10 minutes by default', () => {
    expect(ok('/timeout troll')).toEqual({ kind: 'timeout', user: 'troll', seconds: 600 });
    expect(ok('/timeout troll 10m')).toEqual({ kind: 'timeout', user: 'troll', seconds: 600 });
    expect(ok('/timeout troll 600')).toEqual({ kind: 'timeout', user: 'troll', seconds: 600 });
    expect(ok('/timeout troll 1h calm down')).toEqual({ kind: 'timeout', user: 'troll', seconds: 3600, reason: 'calm down' });
    expect(ok('/timeout troll calm down')).toEqual({ kind: 'timeout', user: 'troll', seconds: 600, reason: 'calm down' });
    expect(err('/timeout troll 10x')).toBe('"10x" is not a duration: try 600, 10m or 1h.');
    expect(err('/timeout troll 0')).toBe('A timeout lasts from 1 second to 2 weeks.');
    expect(err('/timeout troll 3w')).toBe('A timeout lasts from 1 second to 2 weeks.');
  });

  it('sets slow mode and followers-only', () => {
    expect(ok('/slow 30')).toEqual({ kind: 'slow', seconds: 30 });
    expect(ok('/slow 2m')).toEqual({ kind: 'slow', seconds: 120 });
    expect(ok('/slow off')).toEqual({ kind: 'slow', seconds: 0 });
    expect(err('/slow')).toBe('Usage: /slow seconds|off');
    expect(err('/slow 2h')).toBe('Slow mode is at most 1 hour.');
    expect(ok('/followers')).toEqual({ kind: 'followers', minutes: 0 });
    expect(ok('/followers 10')).toEqual({ kind: 'followers', minutes: 10 });
    expect(ok('/followers 1h')).toEqual({ kind: 'followers', minutes: 60 });
    expect(ok('/followers 7d')).toEqual({ kind: 'followers', minutes: 10080 });
    expect(ok('/followers OFF')).toEqual({ kind: 'followers', minutes: null });
    expect(err('/followers 30s')).toMatch(/not a number of minutes/);
    expect(err('/followers 100d')).toBe('Followers-only asks for at most 3 months of following.');
  });

  it('knows /help and refuses unknown commands', () => {
    expect(ok('/help')).toEqual({ kind: 'help' });
    expect(err('/clear')).toBe('Unknown command /clear. Type /help for the list.');
    expect(err('/me waves')).toBe('Unknown command /me. Type /help for the list.');
  });
});
