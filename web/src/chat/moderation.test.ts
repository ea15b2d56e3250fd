import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/client';
import { moderationError } from './moderation';

const err = (status: number, error: string, message: string) => new ApiError(status, { error, message });

describe('moderationError', () => {
  it('says who may not, in words about the user', () => {
    expect(moderationError(err(403, 'forbidden', "only the channel's moderators may do that"), 'ban', 'bob')).toBe('You are not a moderator of this channel.');
    expect(moderationError(err(403, 'forbidden', 'the owner, admins and moderators cannot be banned or timed out by you'), 'timeout', 'host')).toBe(
      'You cannot ban or time out host: the owner, admins and moderators are protected.',
    );
  });

  it('tells an unknown user from nothing to lift', () => {
    expect(moderationError(err(404, 'not_found', 'user not found'), 'ban', 'ghost')).toBe('Unknown user ghost.');
    expect(moderationError(err(404, 'not_found', 'user not found'), 'lift', 'ghost')).toBe('Unknown user ghost.');
    expect(moderationError(err(404, 'not_found', 'ban or timeout not found'), 'lift', 'bob')).toBe('bob is not banned or timed out.');
  });

  it('passes other messages through', () => {
    expect(moderationError(err(422, 'invalid_field', 'a timeout lasts from 1 second to 2 weeks'), 'timeout', 'bob')).toBe('a timeout lasts from 1 second to 2 weeks');
    expect(moderationError(new Error('boom'), 'mode')).toBe('boom');
  });
});
