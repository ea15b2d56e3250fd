// Who may watch a channel: the dashboard's visibility selector (and the password of a
// password-protected channel), saved with PATCH /channels/{slug}.
import { useEffect, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError, api, errorMessage } from '../api/client';
import type { ChannelDto } from '../api/generated/ChannelDto';
import type { UpdateChannel } from '../api/generated/UpdateChannel';
import { keys } from '../api/queries';
import type { Visibility } from '../api/playback';
import { useToast } from '../components/Toasts';

export const VISIBILITIES: { value: Visibility; label: string; hint: string }[] = [
  { value: 'public', label: 'Public', hint: 'Listed on the home page and in search; anyone can watch.' },
  { value: 'unlisted', label: 'Unlisted', hint: 'Not listed anywhere; anyone with the link can watch.' },
  { value: 'password', label: 'Password', hint: 'Not listed; viewers enter a password you give them.' },
  { value: 'followers', label: 'Followers only', hint: 'Not listed; only your followers can watch.' },
];

/** The PATCH body for a visibility form, or the problem to show instead. */
export function visibilityChange(
  current: string,
  visibility: Visibility,
  password: string,
): { body: UpdateChannel } | { problem: string } {
  if (visibility !== 'password') return { body: { visibility } };
  if (password === '' && current === 'password') return { body: { visibility } };
  if (password === '') return { problem: 'Choose a password for viewers to enter.' };
  if ([...password].length < 6) return { problem: 'A channel password is at least 6 characters.' };
  return { body: { visibility, playback_password: password } };
}

export function ChannelVisibility({ channel }: { channel: ChannelDto }) {
  const [visibility, setVisibility] = useState<Visibility>(channel.visibility as Visibility);
  const [password, setPassword] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const qc = useQueryClient();
  const toast = useToast();
  useEffect(() => {
    setVisibility(channel.visibility as Visibility);
    setPassword('');
    setProblem(null);
  }, [channel.slug, channel.visibility]);
  const save = useMutation({
    mutationFn: (body: UpdateChannel) => api<ChannelDto>(`/channels/${channel.slug}`, { method: 'PATCH', body }),
    onSuccess: () => {
      setPassword('');
      qc.invalidateQueries({ queryKey: keys.myChannels });
      qc.invalidateQueries({ queryKey: keys.channel(channel.slug) });
      toast.show('Visibility saved', 'success');
    },
    onError: (e) => setProblem(e instanceof ApiError && e.fields.length ? e.fields.map((f) => f.message).join(' ') : errorMessage(e)),
  });
  const hint = VISIBILITIES.find((v) => v.value === visibility)?.hint;
  return (
    <form
      className="card"
      noValidate
      aria-label="Who can watch"
      onSubmit={(e) => {
        e.preventDefault();
        const change = visibilityChange(channel.visibility, visibility, password);
        if ('problem' in change) {
          setProblem(change.problem);
          return;
        }
        setProblem(null);
        save.mutate(change.body);
      }}
    >
      <h3 style={{ marginTop: 0 }}>Who can watch</h3>
      <label>
        Visibility
        <select value={visibility} onChange={(e) => setVisibility(e.target.value as Visibility)}>
          {VISIBILITIES.map((v) => (
            <option key={v.value} value={v.value}>
              {v.label}
            </option>
          ))}
        </select>
      </label>
      {hint && <p className="muted small">{hint}</p>}
      {visibility === 'password' && (
        <label>
          Viewing password
          <input
            type="password"
            autoComplete="new-password"
            value={password}
            placeholder={channel.visibility === 'password' ? 'Leave empty to keep the current password' : ''}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
      )}
      {problem && (
        <p className="form-error" role="alert">
          {problem}
        </p>
      )}
      <button className="primary" type="submit" disabled={save.isPending}>
        {save.isPending ? 'Saving…' : 'Save visibility'}
      </button>
    </form>
  );
}
