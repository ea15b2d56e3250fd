import { ApiError } from './client';
import { gateForError, renewDelayMs, withToken } from './playback';
import { mediaUrl } from '../player/live';
import { visibilityChange } from '../pages/ChannelVisibility';

describe('playback tokens on media URLs', () => {
  it('adds the token, or replaces the one a playlist listed', () => {
    expect(withToken('/hls/a/master.m3u8', 't1')).toBe('/hls/a/master.m3u8?token=t1');
    expect(withToken('/hls/a/480p/seg-1.ts?token=old', 'new')).toBe('/hls/a/480p/seg-1.ts?token=new');
    expect(withToken('/hls/a/480p/ll.m3u8?_HLS_msn=3&token=old&_HLS_part=1', 'new')).toBe('/hls/a/480p/ll.m3u8?_HLS_msn=3&token=new&_HLS_part=1');
    expect(withToken('/hls/a/master.m3u8', null)).toBe('/hls/a/master.m3u8');
  });

  it('gives every playlist and segment request the viewer id and the current token', () => {
    const u = mediaUrl('http://x/hls/a/480p/seg-9.ts?token=expired', 'fresh');
    expect(u).toMatch(/^http:\/\/x\/hls\/a\/480p\/seg-9\.ts\?token=fresh&vid=[0-9a-f]{24}$/);
    expect(mediaUrl('http://x/hls/a/master.m3u8', null)).toMatch(/master\.m3u8\?vid=[0-9a-f]{24}$/);
    expect(mediaUrl('http://x/key.bin', 'fresh')).toBe('http://x/key.bin');
  });

  it('renews at 80% of the lifetime, never sooner than 5 s', () => {
    expect(renewDelayMs(600)).toBe(480_000);
    expect(renewDelayMs(2)).toBe(5_000);
  });
});

describe('the gate a refusal leaves', () => {
  it('asks for the password, says when it was wrong or throttled', () => {
    expect(gateForError(new ApiError(422, { error: 'invalid_field', message: 'enter its password', field: 'password' }))).toEqual({ kind: 'password' });
    expect(gateForError(new ApiError(403, { error: 'wrong_password', message: 'no' }))).toEqual({ kind: 'password', error: 'That password is not right.' });
    expect(gateForError(new ApiError(429, { error: 'rate_limited', message: 'slow down' }, 42))).toEqual({
      kind: 'password',
      error: 'Too many wrong passwords. Try again in 42 s.',
    });
  });

  it('says followers only, and whether signing in comes first', () => {
    expect(gateForError(new ApiError(403, { error: 'followers_only', message: 'follow' }))).toEqual({ kind: 'followers', signedIn: true });
    expect(gateForError(new ApiError(401, { error: 'unauthorized', message: 'sign in' }))).toEqual({ kind: 'followers', signedIn: false });
    expect(gateForError(new ApiError(0, { error: 'network', message: 'offline' }))).toEqual({ kind: 'error', message: 'offline' });
  });
});

describe('the visibility form', () => {
  it('needs a password to become password-protected, and keeps the current one when left empty', () => {
    expect(visibilityChange('public', 'password', '')).toEqual({ problem: 'Choose a password for viewers to enter.' });
    expect(visibilityChange('public', 'password', 'abc')).toEqual({ problem: 'A channel password is at least 6 characters.' });
    expect(visibilityChange('public', 'password', 'sesame42')).toEqual({ body: { visibility: 'password', playback_password: 'sesame42' } });
    expect(visibilityChange('password', 'password', '')).toEqual({ body: { visibility: 'password' } });
    expect(visibilityChange('password', 'followers', 'ignored')).toEqual({ body: { visibility: 'followers' } });
  });
});
