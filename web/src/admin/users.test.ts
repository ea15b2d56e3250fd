import { describe, expect, it } from 'vitest';
import { allowedActions, isStaff, suspendRequest, suspensionEnd, suspensionNotice } from './users';

const admin = { id: 1, role: 'admin' };
const moderator = { id: 2, role: 'moderator' };
const user = (role: string, suspended = false) => ({
  id: 9,
  role,
  suspension: suspended ? { reason: 'spam', until: null } : null,
});

describe('suspendRequest', () => {
  it('turns a duration choice into seconds, or permanent', () => {
    expect(suspendRequest('1d', ' spam ')).toEqual({ reason: 'spam', duration_secs: 86400 });
    expect(suspendRequest('permanent', 'fraud')).toEqual({ reason: 'fraud', permanent: true });
  });
  it('asks for a reason and a known duration', () => {
    expect(suspendRequest('1d', '   ')).toHaveProperty('problem');
    expect(suspendRequest('1d', 'x'.repeat(501))).toHaveProperty('problem');
    expect(suspendRequest('forever-ish', 'spam')).toHaveProperty('problem');
  });
});

describe('allowedActions', () => {
  it('lets admins do everything but suspend admins or delete themselves', () => {
    expect(allowedActions(admin, user('user'))).toEqual({ suspend: true, unsuspend: false, changeRole: true, delete: true });
    expect(allowedActions(admin, user('moderator')).suspend).toBe(true);
    expect(allowedActions(admin, user('admin')).suspend).toBe(false);
    expect(allowedActions(admin, { ...user('admin'), id: 1 }).delete).toBe(false);
  });
  it('lets moderators suspend and unsuspend ordinary users only', () => {
    expect(allowedActions(moderator, user('user'))).toEqual({ suspend: true, unsuspend: false, changeRole: false, delete: false });
    expect(allowedActions(moderator, user('user', true)).unsuspend).toBe(true);
    expect(allowedActions(moderator, user('moderator')).suspend).toBe(false);
    expect(allowedActions(moderator, user('moderator', true)).unsuspend).toBe(false);
  });
  it('never offers to suspend oneself', () => {
    expect(allowedActions(moderator, { ...user('moderator'), id: 2 }).suspend).toBe(false);
  });
});

describe('suspension in words', () => {
  const now = Date.parse('2026-12-07T10:00:00Z');
  it('says permanently, or until when and how long from now', () => {
    expect(suspensionEnd({ until: null }, now)).toBe('permanently');
    expect(suspensionEnd({ until: '2026-12-07T13:00:00Z' }, now)).toMatch(/^until .+ \(in 3 hours\)$/);
    expect(suspensionNotice({ reason: 'spam', until: null }, now)).toBe('This account is suspended permanently. Reason: spam');
  });
  it('knows who is staff', () => {
    expect(isStaff({ role: 'moderator' })).toBe(true);
    expect(isStaff({ role: 'user' })).toBe(false);
    expect(isStaff(null)).toBe(false);
  });
});
