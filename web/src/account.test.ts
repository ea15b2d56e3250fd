import { attachmentName, deleteProblems, resetProblems, takeLinkToken, verifyBannerText } from './account';

describe('emailed link tokens', () => {
  it('are taken out of the address, keeping the rest', () => {
    expect(takeLinkToken('/reset', '?token=pr_0123abcd')).toEqual({ token: 'pr_0123abcd', clean: '/reset' });
    expect(takeLinkToken('/verify-email', '?a=1&token=ve_0123abcd')).toEqual({ token: 've_0123abcd', clean: '/verify-email?a=1' });
  });
  it('are null when missing or malformed, and still removed', () => {
    expect(takeLinkToken('/reset', '')).toEqual({ token: null, clean: '/reset' });
    expect(takeLinkToken('/reset', '?token=<script>')).toEqual({ token: null, clean: '/reset' });
  });
});

describe('form checks', () => {
  it('need a strong enough password, typed twice', () => {
    expect(resetProblems('short', 'short')).toEqual({ new_password: 'passwords are 8 to 128 characters' });
    expect(resetProblems('long enough', 'long enougH')).toEqual({ repeat: 'the passwords differ' });
    expect(resetProblems('long enough', 'long enough')).toEqual({});
  });
  it('need the password and the exact username to delete', () => {
    expect(deleteProblems('', 'ann', 'ann')).toEqual({ password: 'enter your password' });
    expect(deleteProblems('pw', 'Ann', 'ann')).toEqual({ confirm: 'type ann to confirm' });
    expect(deleteProblems('pw', ' ann ', 'ann')).toEqual({});
  });
});

describe('export file name', () => {
  it('comes from Content-Disposition', () => {
    expect(attachmentName('attachment; filename="streamhall-ann-20261206.json"', 'x.json')).toBe('streamhall-ann-20261206.json');
    expect(attachmentName(null, 'x.json')).toBe('x.json');
  });
});

describe('unverified banner', () => {
  const server = { sends_email: true, email_verification_required: true };
  it('says why streaming is blocked', () => {
    expect(verifyBannerText({ email: 'a@b.c', email_verified: false }, server)).toMatch(/cannot go live/);
    expect(verifyBannerText({ email: 'a@b.c', email_verified: false }, { ...server, email_verification_required: false })).not.toMatch(/go live/);
  });
  it('is not shown when verified, signed out, or when the server sends no email', () => {
    expect(verifyBannerText({ email: 'a@b.c', email_verified: true }, server)).toBeNull();
    expect(verifyBannerText(null, server)).toBeNull();
    expect(verifyBannerText({ email: 'a@b.c' }, server)).toBeNull();
    expect(verifyBannerText({ email: 'a@b.c', email_verified: false }, { ...server, sends_email: false })).toBeNull();
  });
});
