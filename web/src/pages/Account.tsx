// The account lifecycle in the web app: forgot password, the reset and verify-email pages the
// emailed links open, the unverified-email banner, and the export and delete sections of
// Settings.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate } from 'react-router-dom';
import { useQueryClient } from '@tanstack/react-query';
import { API, api, errorMessage, parse } from '../api/client';
import type { Accepted } from '../api/generated/Accepted';
import type { Me } from '../api/generated/Me';
import { useServerInfo } from '../api/ingest';
import { useMe } from '../api/session';
import { tokens } from '../api/tokens';
import { Field } from '../components/States';
import { useToast } from '../components/Toasts';
import { attachmentName, deleteProblems, resetProblems, takeLinkToken, verifyBannerText, type Problems } from '../account';
import { fieldErrors, focusFirstError } from './Auth';

function FormError({ text }: { text?: string }) {
  return text ? (
    <p className="form-error" role="alert">
      {text}
    </p>
  ) : null;
}

/**
 * The link's token, read once from the address bar; the history entry is then replaced by
 * the same page without it, so the token is not kept in history or sent as a Referer.
 */
function useLinkToken(): string | null {
  const { pathname, search } = useLocation();
  const navigate = useNavigate();
  const [taken] = useState(() => takeLinkToken(pathname, search));
  useEffect(() => {
    if (search.includes('token=')) navigate(taken.clean, { replace: true });
  }, [search, taken.clean, navigate]);
  return taken.token;
}

export function ForgotPassword() {
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [sent, setSent] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim()) return setError('enter the email address of your account');
    setBusy(true);
    try {
      const res = await api<Accepted>('/auth/password-reset', { method: 'POST', body: { email: email.trim() }, auth: false });
      setSent(res.message);
      setError(undefined);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="auth-box card">
      <h1>Forgot your password?</h1>
      {sent ? (
        <p role="status">{sent} It may take a minute; check your spam folder too.</p>
      ) : (
        <form onSubmit={submit} noValidate>
          <p className="muted">We email you a link to choose a new password. It works once, for 30 minutes.</p>
          <Field id="forgot-email" label="Email" error={error}>
            <input id="forgot-email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} aria-invalid={Boolean(error)} aria-describedby={error ? 'forgot-email-error' : undefined} autoFocus />
          </Field>
          <button className="primary" type="submit" disabled={busy} style={{ width: '100%' }}>
            {busy ? 'Sending…' : 'Send the link'}
          </button>
        </form>
      )}
      <p className="muted">
        <Link to="/login">Back to log in</Link>
      </p>
    </div>
  );
}

export function ResetPassword() {
  const token = useLinkToken();
  const [form, setForm] = useState({ new_password: '', repeat: '' });
  const [errors, setErrors] = useState<Problems>({});
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems = resetProblems(form.new_password, form.repeat);
    setErrors(problems);
    if (Object.keys(problems).length > 0) return focusFirstError(problems, ['new_password', 'repeat'], (f) => `reset-${f}`);
    setBusy(true);
    try {
      await api('/auth/password-reset/confirm', { method: 'POST', body: { token, new_password: form.new_password }, auth: false });
      // Every session of the account ended, this browser's too.
      tokens.clear();
      setDone(true);
    } catch (err) {
      const errs = fieldErrors(err, ['new_password']);
      if (errs.form === undefined && !errs.new_password) errs.form = errorMessage(err);
      setErrors(errs);
    } finally {
      setBusy(false);
    }
  };
  if (!token) {
    return (
      <div className="auth-box card">
        <h1>Reset your password</h1>
        <p role="alert">This page needs the link from the email. <Link to="/forgot">Ask for a new link</Link>.</p>
      </div>
    );
  }
  return (
    <div className="auth-box card">
      <h1>Choose a new password</h1>
      {done ? (
        <p role="status">
          Your password is changed and you are signed out everywhere. <Link to="/login">Log in</Link> with the new one.
        </p>
      ) : (
        <form onSubmit={submit} noValidate>
          <FormError text={errors.form ?? errors.token} />
          <Field id="reset-new_password" label="New password" error={errors.new_password} hint="8 to 128 characters">
            <input id="reset-new_password" type="password" autoComplete="new-password" value={form.new_password} onChange={(e) => setForm({ ...form, new_password: e.target.value })} aria-invalid={Boolean(errors.new_password)} autoFocus />
          </Field>
          <Field id="reset-repeat" label="New password again" error={errors.repeat}>
            <input id="reset-repeat" type="password" autoComplete="new-password" value={form.repeat} onChange={(e) => setForm({ ...form, repeat: e.target.value })} aria-invalid={Boolean(errors.repeat)} />
          </Field>
          <button className="primary" type="submit" disabled={busy} style={{ width: '100%' }}>
            {busy ? 'Saving…' : 'Set the password'}
          </button>
          <p className="muted small">This signs you out on every device.</p>
        </form>
      )}
    </div>
  );
}

export function VerifyEmail() {
  const token = useLinkToken();
  const [state, setState] = useState<'working' | 'done' | string>(token ? 'working' : 'This page needs the link from the email.');
  const sent = useRef(false);
  useEffect(() => {
    if (!token || sent.current) return;
    sent.current = true;
    (async () => {
      try {
        await api('/auth/verify-email', { method: 'POST', body: { token }, auth: false });
        setState('done');
        if (tokens.signedIn()) tokens.setUser(await api<Me>('/users/me'));
      } catch (err) {
        setState(errorMessage(err));
      }
    })();
  }, [token]);
  return (
    <div className="auth-box card">
      <h1>Confirm your email address</h1>
      {state === 'working' && <p role="status">Confirming…</p>}
      {state === 'done' && (
        <p role="status">
          Your email address is confirmed. <Link to="/dashboard">Go to your dashboard</Link>.
        </p>
      )}
      {state !== 'working' && state !== 'done' && (
        <p role="alert">
          {state} Signed in, you can ask for a new link from the banner at the top of the page.
        </p>
      )}
    </div>
  );
}

/** Shown to signed-in users whose address is not verified, with a "resend" button. */
export function VerifyBanner() {
  const me = useMe();
  const server = useServerInfo().data;
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const text = verifyBannerText(me, server);
  if (!text) return null;
  const resend = async () => {
    setBusy(true);
    try {
      const res = await api<Accepted>('/users/me/verification', { method: 'POST' });
      toast.show(res.message, 'success');
    } catch (err) {
      toast.show(errorMessage(err), 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="card notice" role="status" aria-label="Email not verified">
      <span>{text}</span>{' '}
      <button type="button" onClick={resend} disabled={busy}>
        {busy ? 'Sending…' : 'Resend the link'}
      </button>
    </div>
  );
}

/** Settings: download everything the server keeps about you. */
export function ExportData() {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const download = async () => {
    setBusy(true);
    try {
      const access = await tokens.access();
      const res = await fetch(`${API}/users/me/export`, { headers: access ? { authorization: `Bearer ${access}` } : {} });
      if (!res.ok) await parse(res);
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = attachmentName(res.headers.get('content-disposition'), 'streamhall-export.json');
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      toast.show(errorMessage(err), 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby="export-h">
      <h2 id="export-h" style={{ marginTop: 0 }}>
        Your data
      </h2>
      <p className="muted small">
        One JSON file with your profile, channels, videos and clips, follows, notifications and settings, the chat messages you wrote, webhooks (without their secrets) and viewing summaries. See <Link to="/privacy">Privacy</Link>.
      </p>
      <button type="button" onClick={download} disabled={busy}>
        {busy ? 'Preparing…' : 'Export my data'}
      </button>
    </section>
  );
}

/** Settings: delete the account, after the password and the username typed out. */
export function DeleteAccount() {
  const me = useMe()!;
  const navigate = useNavigate();
  const qc = useQueryClient();
  const toast = useToast();
  const [form, setForm] = useState({ password: '', confirm: '' });
  const [errors, setErrors] = useState<Problems>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems = deleteProblems(form.password, form.confirm, me.username);
    setErrors(problems);
    if (Object.keys(problems).length > 0) return focusFirstError(problems, ['password', 'confirm'], (f) => `delete-${f}`);
    setBusy(true);
    try {
      await api('/users/me', { method: 'DELETE', body: { password: form.password } });
      tokens.clear();
      qc.clear();
      toast.show('Your account is deleted', 'success');
      navigate('/', { replace: true });
    } catch (err) {
      setErrors(fieldErrors(err, ['password']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="delete-h">
      <h2 id="delete-h" style={{ marginTop: 0 }}>
        Delete account
      </h2>
      <p className="muted small">
        Your channels, videos, clips, follows and notifications are deleted and you are signed out everywhere. Chat messages you wrote stay, shown as from a deleted user. This cannot be undone.
      </p>
      <FormError text={errors.form} />
      <Field id="delete-password" label="Password" error={errors.password}>
        <input id="delete-password" type="password" autoComplete="current-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} aria-invalid={Boolean(errors.password)} />
      </Field>
      <Field id="delete-confirm" label={`Type ${me.username} to confirm`} error={errors.confirm}>
        <input id="delete-confirm" autoComplete="off" value={form.confirm} onChange={(e) => setForm({ ...form, confirm: e.target.value })} aria-invalid={Boolean(errors.confirm)} />
      </Field>
      <button className="danger" type="submit" disabled={busy}>
        {busy ? 'Deleting…' : 'Delete my account'}
      </button>
    </form>
  );
}
