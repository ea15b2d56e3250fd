import { useEffect, useState, type FormEvent } from 'react';
import { useLocation } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { NotificationSettings } from '../api/generated/NotificationSettings';
import { keys, useFollowing, useNotificationSettings } from '../api/queries';
import type { AuthResponse } from '../api/generated/AuthResponse';
import type { ChangePassword } from '../api/generated/ChangePassword';
import type { Me } from '../api/generated/Me';
import type { UpdateMe } from '../api/generated/UpdateMe';
import { useMe } from '../api/session';
import { tokens } from '../api/tokens';
import { RequireAuth } from '../components/RequireAuth';
import { ErrorState, Field, Loading } from '../components/States';
import { useToast } from '../components/Toasts';
import { hasProblems, passwordProblems, profileProblems } from '../validate';
import { fieldErrors, focusFirstError } from './Auth';
import { DeleteAccount, ExportData } from './Account';

/** The error, else the hint, that describes a field (ids as `Field` draws them). */
function describedBy(id: string, errors: Record<string, string | undefined>, hint = false): string | undefined {
  return errors[id] ? `${id}-error` : hint ? `${id}-hint` : undefined;
}

export function Settings() {
  return (
    <RequireAuth>
      <div className="stack" style={{ maxWidth: 620 }}>
        <h1>Settings</h1>
        <Profile />
        <Notifications />
        <Password />
        <ExportData />
        <DeleteAccount />
      </div>
    </RequireAuth>
  );
}

function Profile() {
  const me = useMe()!;
  const toast = useToast();
  const [form, setForm] = useState<Required<UpdateMe>>({ display_name: me.display_name, bio: me.bio, email: me.email });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const order = ['display_name', 'email', 'bio'];
    const problems = profileProblems(form);
    setErrors(problems);
    if (hasProblems(problems)) return focusFirstError(problems, order);
    setBusy(true);
    try {
      const updated = await api<Me>('/users/me', { method: 'PATCH', body: form });
      tokens.setUser(updated);
      toast.show('Profile saved', 'success');
    } catch (err) {
      const errs = fieldErrors(err, order);
      setErrors(errs);
      focusFirstError(errs, order);
    } finally {
      setBusy(false);
    }
  };
  const set = (k: keyof UpdateMe) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="profile-h">
      <h2 id="profile-h" style={{ marginTop: 0 }}>
        Profile
      </h2>
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <p className="muted">
        Username: <strong>{me.username}</strong>
      </p>
      <Field id="display_name" label="Display name" error={errors.display_name} hint="Shown on your channel, in chat and in go-live notifications">
        <input id="display_name" value={form.display_name} onChange={set('display_name')} aria-invalid={Boolean(errors.display_name)} aria-describedby={describedBy('display_name', errors, true)} />
      </Field>
      <Field id="email" label="Email" error={errors.email}>
        <input id="email" type="email" autoComplete="email" value={form.email} onChange={set('email')} aria-invalid={Boolean(errors.email)} aria-describedby={describedBy('email', errors)} />
      </Field>
      <Field id="bio" label="Bio" error={errors.bio} hint={`${[...form.bio.trim()].length} of 1000 characters`}>
        <textarea id="bio" value={form.bio} onChange={set('bio')} aria-invalid={Boolean(errors.bio)} aria-describedby={describedBy('bio', errors, true)} />
      </Field>
      <button className="primary" type="submit" disabled={busy}>
        {busy ? 'Saving…' : 'Save profile'}
      </button>
    </form>
  );
}

function Password() {
  const toast = useToast();
  const [form, setForm] = useState<ChangePassword>({ current_password: '', new_password: '' });
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const order = ['current_password', 'new_password'];
    const problems = passwordProblems(form);
    setErrors(problems);
    if (hasProblems(problems)) return focusFirstError(problems, order);
    setBusy(true);
    try {
      // Every other session is signed out; this one gets a fresh pair of tokens.
      tokens.signIn(await api<AuthResponse>('/users/me/password', { method: 'PUT', body: form }));
      setForm({ current_password: '', new_password: '' });
      toast.show('Password changed: other devices were signed out', 'success');
    } catch (err) {
      const errs = fieldErrors(err, order);
      setErrors(errs);
      focusFirstError(errs, order);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card" onSubmit={submit} noValidate aria-labelledby="pw-h">
      <h2 id="pw-h" style={{ marginTop: 0 }}>
        Change password
      </h2>
      <p className="muted small">This signs you out on every other device.</p>
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <Field id="current_password" label="Current password" error={errors.current_password}>
        <input id="current_password" type="password" autoComplete="current-password" value={form.current_password} onChange={(e) => setForm({ ...form, current_password: e.target.value })} aria-invalid={Boolean(errors.current_password)} aria-describedby={describedBy('current_password', errors)} />
      </Field>
      <Field id="new_password" label="New password" error={errors.new_password} hint="At least 8 characters">
        <input id="new_password" type="password" autoComplete="new-password" value={form.new_password} onChange={(e) => setForm({ ...form, new_password: e.target.value })} aria-invalid={Boolean(errors.new_password)} aria-describedby={describedBy('new_password', errors, true)} />
      </Field>
      <button className="primary" type="submit" disabled={busy}>
        {busy ? 'Changing…' : 'Change password'}
      </button>
    </form>
  );
}

/** Email on or off, and which followed channels may notify at all (unchecked = muted). */
function Notifications() {
  const settings = useNotificationSettings();
  const following = useFollowing(true);
  const [form, setForm] = useState<NotificationSettings | null>(null);
  const qc = useQueryClient();
  const toast = useToast();
  const { hash } = useLocation();
  useEffect(() => {
    if (settings.data && form === null) setForm(settings.data);
  }, [settings.data, form]);
  useEffect(() => {
    if (hash === '#notifications' && form) document.getElementById('notifications')?.scrollIntoView();
  }, [hash, form]);
  const save = useMutation({
    mutationFn: (body: NotificationSettings) => api<NotificationSettings>('/notifications/settings', { method: 'PUT', body, auth: true }),
    onSuccess: (saved) => {
      qc.setQueryData(keys.notifySettings, saved);
      qc.invalidateQueries({ queryKey: keys.following });
      setForm(saved);
      toast.show('Notification settings saved', 'success');
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  const channels = following.data ?? [];
  const toggle = (slug: string, on: boolean) =>
    form && setForm({ ...form, muted: on ? form.muted.filter((m) => m !== slug) : [...form.muted.filter((m) => m !== slug), slug] });
  return (
    <form
      className="card"
      id="notifications"
      aria-labelledby="notify-settings-h"
      onSubmit={(e) => {
        e.preventDefault();
        if (form) save.mutate(form);
      }}
    >
      <h2 id="notify-settings-h" style={{ marginTop: 0 }}>
        Notifications
      </h2>
      {settings.isPending || (settings.isSuccess && !form) ? (
        <Loading label="Loading notification settings" />
      ) : settings.isError ? (
        <ErrorState error={settings.error} retry={() => settings.refetch()} />
      ) : form ? (
        <>
          <label className="check">
            <input type="checkbox" checked={form.email} onChange={(e) => setForm({ ...form, email: e.target.checked })} />
            <span>
              Email me when a channel I follow goes live
              <span className="hint">In-app notifications (the bell) are always on for channels you do not mute.</span>
            </span>
          </label>
          <fieldset className="plain-fieldset">
            <legend>Channels that notify me</legend>
            {following.isPending ? (
              <Loading label="Loading the channels you follow" />
            ) : following.isError ? (
              <ErrorState error={following.error} retry={() => following.refetch()} />
            ) : channels.length === 0 ? (
              <p className="muted small">You do not follow any channel yet.</p>
            ) : (
              <ul className="check-list">
                {channels.map(({ channel: c }) => (
                  <li key={c.id}>
                    <label className="check">
                      <input type="checkbox" checked={!form.muted.includes(c.slug)} onChange={(e) => toggle(c.slug, e.target.checked)} />
                      <span>
                        {c.owner.display_name || c.owner.username} <span className="muted small">/{c.slug}</span>
                      </span>
                    </label>
                  </li>
                ))}
              </ul>
            )}
          </fieldset>
          <button className="primary" type="submit" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : 'Save notification settings'}
          </button>
        </>
      ) : null}
    </form>
  );
}
