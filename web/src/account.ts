// The account lifecycle pages' logic, kept apart from React so it is tested on its own:
// link tokens taken out of the address bar, form checks, and the export's file name.

/**
 * The `token` of an emailed link (`/reset?token=…`, `/verify-email?token=…`) and the address
 * to show instead, without it: the page keeps the token in memory, replaces the history
 * entry, and sends the token only in a POST body (never in a GET to the API).
 */
export function takeLinkToken(pathname: string, search: string): { token: string | null; clean: string } {
  const params = new URLSearchParams(search);
  const token = params.get('token');
  params.delete('token');
  const rest = params.toString();
  return { token: token && /^[A-Za-z0-9_]{8,128}$/.test(token) ? token : null, clean: rest ? `${pathname}?${rest}` : pathname };
}

export type Problems = Partial<Record<string, string>>;

/** The new password (same rule as sign-up: 8 to 128 characters) and its repetition. */
export function resetProblems(password: string, repeat: string): Problems {
  const out: Problems = {};
  const n = [...password].length;
  if (n < 8 || n > 128) out.new_password = 'passwords are 8 to 128 characters';
  else if (password !== repeat) out.repeat = 'the passwords differ';
  return out;
}

/** Deleting an account needs the password and the username typed out. */
export function deleteProblems(password: string, typed: string, username: string): Problems {
  const out: Problems = {};
  if (!password) out.password = 'enter your password';
  if (typed.trim() !== username) out.confirm = `type ${username} to confirm`;
  return out;
}

/** The file name in a `Content-Disposition: attachment; filename="…"` header. */
export function attachmentName(disposition: string | null, fallback: string): string {
  const m = disposition?.match(/filename="([^"]+)"/);
  return m?.[1] ?? fallback;
}

/** What the unverified-email banner says, or null when there is nothing to say. */
export function verifyBannerText(
  me: { email: string; email_verified?: boolean } | null,
  server: { sends_email: boolean; email_verification_required: boolean } | undefined,
): string | null {
  // Missing (a session stored by an older version): unknown, so say nothing.
  if (!me || me.email_verified !== false || !server?.sends_email) return null;
  const base = `Confirm your email address: open the link we sent to ${me.email}.`;
  return server.email_verification_required
    ? `${base} Until then you can watch and chat, but you cannot go live and you get no emails.`
    : `${base} Until then you get no emails.`;
}
