import { useEffect, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { BanDto } from '../api/generated/BanDto';
import type { BlockedTerms } from '../api/generated/BlockedTerms';
import type { ModeratorDto } from '../api/generated/ModeratorDto';
import type { RoomMode } from '../api/generated/RoomMode';
import { keys } from '../api/queries';
import { MAX_FOLLOW_MINUTES, MAX_SLOW_SECS } from '../chat/commands';
import { liftBan, moderationError } from '../chat/moderation';
import { describeMode } from '../chat/reducer';
import { ErrorState, Field, Loading } from '../components/States';
import { useToast } from '../components/Toasts';
import { formatDuration, formatUntil } from '../format';

/** The owner's chat settings: moderators, blocked terms, modes, and who is banned. */
export function ChatSettings({ slug }: { slug: string }) {
  return (
    <div className="stack" style={{ maxWidth: 720 }}>
      <Modes slug={slug} />
      <Moderators slug={slug} />
      <Terms slug={slug} />
      <Bans slug={slug} />
    </div>
  );
}

const base = (slug: string) => `/channels/${encodeURIComponent(slug)}`;

function Modes({ slug }: { slug: string }) {
  const toast = useToast();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['chat-mode', slug], queryFn: () => api<RoomMode>(`${base(slug)}/chat/mode`) });
  const [mode, setMode] = useState<RoomMode | null>(null);
  useEffect(() => setMode(q.data ?? null), [q.data]);
  const save = useMutation({
    mutationFn: (m: RoomMode) => api<RoomMode>(`${base(slug)}/chat/mode`, { method: 'PUT', body: m }),
    onSuccess: (m) => {
      qc.setQueryData(['chat-mode', slug], m);
      toast.show(`Chat: ${describeMode(m)}`, 'success');
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  return (
    <section className="card" aria-labelledby="modes-h">
      <h3 id="modes-h" style={{ marginTop: 0 }}>
        Chat modes
      </h3>
      {q.isPending ? (
        <Loading />
      ) : q.isError ? (
        <ErrorState error={q.error} retry={() => q.refetch()} />
      ) : mode ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate(mode);
          }}
        >
          <Field
            id="slow"
            label="Slow mode (seconds between a viewer's messages, 0 = off)"
            hint={mode.slow_seconds > 0 ? `One message every ${formatDuration(mode.slow_seconds)}.` : 'Off.'}
          >
            <input
              id="slow"
              type="number"
              min={0}
              max={MAX_SLOW_SECS}
              value={mode.slow_seconds}
              onChange={(e) => setMode({ ...mode, slow_seconds: Math.max(0, Math.min(MAX_SLOW_SECS, Number(e.target.value) || 0)) })}
            />
          </Field>
          <div className="field row">
            <input id="emote-only" type="checkbox" style={{ width: 'auto', minHeight: 0 }} checked={mode.emote_only} onChange={(e) => setMode({ ...mode, emote_only: e.target.checked })} />
            <label htmlFor="emote-only" style={{ margin: 0 }}>
              Emote-only
            </label>
          </div>
          <div className="field row">
            <input
              id="followers-only"
              type="checkbox"
              style={{ width: 'auto', minHeight: 0 }}
              checked={mode.followers_only != null}
              onChange={(e) => setMode({ ...mode, followers_only: e.target.checked ? 0 : null })}
            />
            <label htmlFor="followers-only" style={{ margin: 0 }}>
              Followers-only
            </label>
          </div>
          {mode.followers_only != null && (
            <Field
              id="follow-minutes"
              label="Minutes one must have followed to chat (0 = any follower)"
              hint={mode.followers_only > 0 ? `Followers of at least ${formatDuration(mode.followers_only * 60)} may chat.` : 'Anyone following may chat.'}
            >
              <input
                id="follow-minutes"
                type="number"
                min={0}
                max={MAX_FOLLOW_MINUTES}
                value={mode.followers_only}
                onChange={(e) => setMode({ ...mode, followers_only: Math.max(0, Math.min(MAX_FOLLOW_MINUTES, Math.floor(Number(e.target.value)) || 0)) })}
              />
            </Field>
          )}
          <button className="primary" type="submit" disabled={save.isPending}>
            Save modes
          </button>
        </form>
      ) : null}
    </section>
  );
}

function Moderators({ slug }: { slug: string }) {
  const toast = useToast();
  const qc = useQueryClient();
  const key = ['moderators', slug];
  const q = useQuery({ queryKey: key, queryFn: () => api<ModeratorDto[]>(`${base(slug)}/moderators`) });
  const [name, setName] = useState('');
  const [error, setError] = useState<string>();
  const add = useMutation({
    mutationFn: (u: string) => api<unknown>(`${base(slug)}/moderators/${encodeURIComponent(u)}`, { method: 'PUT' }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: key });
      toast.show(`${name} is now a moderator`, 'success');
      setName('');
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const remove = useMutation({
    mutationFn: (u: string) => api<void>(`${base(slug)}/moderators/${encodeURIComponent(u)}`, { method: 'DELETE' }),
    onSuccess: (_r, u) => {
      qc.invalidateQueries({ queryKey: key });
      toast.show(`${u} is no longer a moderator`, 'success');
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    if (name.trim()) add.mutate(name.trim());
  };
  return (
    <section className="card" aria-labelledby="mods-h">
      <h3 id="mods-h" style={{ marginTop: 0 }}>
        Moderators
      </h3>
      <p className="muted small">Moderators can delete messages, time out and ban viewers, and change chat modes.</p>
      {q.isPending ? (
        <Loading />
      ) : q.isError ? (
        <ErrorState error={q.error} retry={() => q.refetch()} />
      ) : q.data.length === 0 ? (
        <p className="muted">No moderators yet.</p>
      ) : (
        <ul>
          {q.data.map((m) => (
            <li key={m.user_id} className="row">
              <span className="grow">{m.username}</span>
              <button className="ghost" onClick={() => remove.mutate(m.username)} aria-label={`Remove moderator ${m.username}`}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={submit} className="row" noValidate>
        <div className="grow">
          <Field id="mod-name" label="Add a moderator by username" error={error}>
            <input id="mod-name" value={name} onChange={(e) => setName(e.target.value)} aria-invalid={Boolean(error)} />
          </Field>
        </div>
        <button type="submit" disabled={add.isPending || !name.trim()}>
          Add
        </button>
      </form>
    </section>
  );
}

function Terms({ slug }: { slug: string }) {
  const toast = useToast();
  const q = useQuery({ queryKey: ['blocked-terms', slug], queryFn: () => api<BlockedTerms>(`${base(slug)}/chat/blocked-terms`) });
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  useEffect(() => setText((q.data?.terms ?? []).join('\n')), [q.data]);
  const save = useMutation({
    mutationFn: (terms: string[]) => api<BlockedTerms>(`${base(slug)}/chat/blocked-terms`, { method: 'PUT', body: { terms } }),
    onSuccess: (t) => {
      setText(t.terms.join('\n'));
      toast.show(`${t.terms.length} blocked terms saved`, 'success');
    },
    onError: (e) => setError(errorMessage(e)),
  });
  return (
    <section className="card" aria-labelledby="terms-h">
      <h3 id="terms-h" style={{ marginTop: 0 }}>
        Blocked terms
      </h3>
      {q.isPending ? (
        <Loading />
      ) : q.isError ? (
        <ErrorState error={q.error} retry={() => q.refetch()} />
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setError(undefined);
            save.mutate(text.split('\n').map((t) => t.trim()).filter(Boolean));
          }}
        >
          <Field id="terms" label="One per line: messages containing any of them are refused" error={error}>
            <textarea id="terms" value={text} onChange={(e) => setText(e.target.value)} rows={5} />
          </Field>
          <button className="primary" type="submit" disabled={save.isPending}>
            Save terms
          </button>
        </form>
      )}
    </section>
  );
}

function Bans({ slug }: { slug: string }) {
  const toast = useToast();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: keys.bans(slug), queryFn: () => api<BanDto[]>(`${base(slug)}/chat/bans`), refetchInterval: 10_000 });
  const [error, setError] = useState<string>();
  const lift = useMutation({
    mutationFn: (b: BanDto) => liftBan(slug, b.username),
    onMutate: () => setError(undefined),
    onSuccess: (_r, b) => {
      qc.setQueryData<BanDto[]>(keys.bans(slug), (list) => list?.filter((x) => x.user_id !== b.user_id));
      qc.invalidateQueries({ queryKey: keys.bans(slug) });
      toast.show(`${b.username} may chat again`, 'success');
    },
    onError: (e, b) => {
      setError(moderationError(e, 'lift', b.username));
      qc.invalidateQueries({ queryKey: keys.bans(slug) });
    },
  });
  return (
    <section className="card" aria-labelledby="bans-h">
      <h3 id="bans-h" style={{ marginTop: 0 }}>
        Bans and timeouts
      </h3>
      {q.isPending ? (
        <Loading />
      ) : q.isError ? (
        <ErrorState error={q.error} retry={() => q.refetch()} />
      ) : q.data.length === 0 ? (
        <p className="muted">Nobody is banned or timed out.</p>
      ) : (
        <ul className="plain ban-list">
          {q.data.map((b) => (
            <li key={b.user_id} className="row">
              <div className="grow" style={{ minWidth: 0 }}>
                <strong>{b.username}</strong>{' '}
                <span className="muted" title={b.expires_at ? `until ${new Date(b.expires_at).toLocaleString()}` : undefined}>
                  {b.expires_at ? `timed out, ${formatUntil(b.expires_at)} left` : 'banned until lifted'}
                </span>
                {b.reason && <div className="small">Reason: {b.reason}</div>}
              </div>
              <button onClick={() => lift.mutate(b)} disabled={lift.isPending && lift.variables?.user_id === b.user_id} aria-label={`${b.expires_at ? 'Lift the timeout of' : 'Unban'} ${b.username}`}>
                {b.expires_at ? 'Lift timeout' : 'Unban'}
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p className="small bad-text" role="alert" style={{ marginTop: 8 }}>
          {error}
        </p>
      )}
    </section>
  );
}
