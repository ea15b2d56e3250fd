import { useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate } from 'react-router-dom';
import { ApiError, api, errorMessage } from '../api/client';
import type { AuthResponse } from '../api/generated/AuthResponse';
import type { LoginRequest } from '../api/generated/LoginRequest';
import type { RegisterRequest } from '../api/generated/RegisterRequest';
import { tokens } from '../api/tokens';
import { Field } from '../components/States';
import { useToast } from '../components/Toasts';
import { hasProblems, registerProblems } from '../validate';
import { suspensionNotice } from '../admin/users';

/** Where to go after signing in: back to the page that asked, else home. */
function useReturnTo(): string {
  const state = useLocation().state as { from?: string } | null;
  return state?.from && state.from.startsWith('/') ? state.from : '/';
}

type Errors = Partial<Record<string, string>>;

/**
 * Field errors from the API go next to their field, every one the server named (a 422 lists
 * them all in `fields`); problems with no field of this form, and other errors, go above it.
 */
export function fieldErrors(e: unknown, fields: string[]): Errors {
  if (!(e instanceof ApiError) || e.fields.length === 0) return { form: errorMessage(e) };
  const out: Errors = {};
  const other: string[] = [];
  for (const p of e.fields) {
    if (fields.includes(p.field)) out[p.field] ??= p.message;
    else other.push(p.message);
  }
  if (other.length > 0 || Object.keys(out).length === 0) out.form = other.length ? other.join('; ') : errorMessage(e);
  return out;
}

/** Moves focus to the first field (in form order) that has an error, so it is read out. */
export function focusFirstError(errors: Errors, order: string[], idOf: (field: string) => string = (f) => f) {
  const first = order.find((f) => errors[f]);
  if (first) window.setTimeout(() => document.getElementById(idOf(first))?.focus(), 0);
}

export function Login() {
  const [form, setForm] = useState<LoginRequest>({ login: '', password: '' });
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const back = useReturnTo();
  const toast = useToast();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Errors = {};
    if (!form.login.trim()) problems.login = 'enter your username or email';
    if (!form.password) problems.password = 'enter your password';
    setErrors(problems);
    if (Object.keys(problems).length > 0) return focusFirstError(problems, ['login', 'password']);
    setBusy(true);
    try {
      const res = await api<AuthResponse>('/auth/login', { method: 'POST', body: form, auth: false });
      tokens.signIn(res);
      toast.show(`Welcome back, ${res.user.display_name || res.user.username}`, 'success');
      navigate(back, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.suspension) setErrors({ form: suspensionNotice(err.suspension) });
      else setErrors(fieldErrors(err, ['login', 'password']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="auth-box card">
      <h1>Log in</h1>
      <form onSubmit={submit} noValidate>
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        <Field id="login" label="Username or email" error={errors.login}>
          <input
            id="login"
            autoComplete="username"
            value={form.login}
            onChange={(e) => setForm({ ...form, login: e.target.value })}
            aria-invalid={Boolean(errors.login)}
            aria-describedby={errors.login ? 'login-error' : undefined}
            required
            autoFocus
          />
        </Field>
        <Field id="password" label="Password" error={errors.password}>
          <input
            id="password"
            type="password"
            autoComplete="current-password"
            value={form.password}
            onChange={(e) => setForm({ ...form, password: e.target.value })}
            aria-invalid={Boolean(errors.password)}
            aria-describedby={errors.password ? 'password-error' : undefined}
            required
          />
        </Field>
        <button className="primary" type="submit" disabled={busy} style={{ width: '100%' }}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      <p className="muted">
        <Link to="/forgot">Forgot password?</Link>
      </p>
      <p className="muted">
        New here? <Link to="/register">Create an account</Link>
      </p>
    </div>
  );
}

export function Register() {
  const [form, setForm] = useState<RegisterRequest>({ username: '', email: '', password: '' });
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const back = useReturnTo();
  const toast = useToast();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const order = ['username', 'email', 'password'];
    const problems = registerProblems(form);
    setErrors(problems);
    if (hasProblems(problems)) return focusFirstError(problems, order, (f) => `reg-${f}`);
    setBusy(true);
    try {
      const res = await api<AuthResponse>('/auth/register', { method: 'POST', body: form, auth: false });
      tokens.signIn(res);
      toast.show(`Welcome, ${res.user.username}!`, 'success');
      navigate(back === '/' ? '/dashboard' : back, { replace: true });
    } catch (err) {
      const errs = fieldErrors(err, order);
      setErrors(errs);
      focusFirstError(errs, order, (f) => `reg-${f}`);
    } finally {
      setBusy(false);
    }
  };
  const input = (name: keyof RegisterRequest, label: string, type: string, auto: string, hint?: string) => (
    <Field id={`reg-${name}`} label={label} error={errors[name]} hint={hint}>
      <input
        id={`reg-${name}`}
        name={name}
        type={type}
        autoComplete={auto}
        value={form[name]}
        onChange={(e) => setForm({ ...form, [name]: e.target.value })}
        aria-invalid={Boolean(errors[name])}
        aria-describedby={errors[name] ? `reg-${name}-error` : hint ? `reg-${name}-hint` : undefined}
        required
      />
    </Field>
  );
  return (
    <div className="auth-box card">
      <h1>Create your account</h1>
      <form onSubmit={submit} noValidate>
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        {input('username', 'Username', 'text', 'username', '3–32 characters: letters, digits and _')}
        {input('email', 'Email', 'email', 'email')}
        {input('password', 'Password', 'password', 'new-password', 'At least 8 characters')}
        <p className="small muted">
          By signing up you accept the <Link to="/terms">terms</Link> and the{' '}
          <Link to="/guidelines">content guidelines</Link>.
        </p>
        <button className="primary" type="submit" disabled={busy} style={{ width: '100%' }}>
          {busy ? 'Creating…' : 'Sign up'}
        </button>
      </form>
      <p className="muted">
        Have an account? <Link to="/login">Log in</Link>
      </p>
    </div>
  );
}
