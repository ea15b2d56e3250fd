// The dashboard's "Restream" card: up to five other platforms (an RTMP/RTMPS ingest URL and
// that platform's stream key) the server copies the stream to while the channel is live.
// Each has its state and last error, an on/off switch, and can be edited or deleted. Keys
// are write-only: sent when added or replaced, never returned, never drawn after sending.
import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import {
  MAX_RESTREAMS,
  restreamUrlProblem,
  restreamsPath,
  useRestreams,
  type CreateRestream,
  type RestreamDto,
  type UpdateRestream,
} from '../api/ingestSettings';
import { keys } from '../api/queries';
import { Confirm, ErrorState, Field, Loading } from '../components/States';
import { TonePill, restreamWords } from '../components/streamState';
import { useToast } from '../components/Toasts';
import { fieldErrors, focusFirstError } from './Auth';

type Errors = Record<string, string | undefined>;
const ORDER = ['name', 'url', 'stream_key'];

/** `onAir`: a publisher is connected, so destinations change state: the list follows every 5 s. */
export function RestreamCard({ slug, onAir }: { slug: string; onAir: boolean }) {
  const q = useRestreams(slug, onAir);
  const list = q.data ?? [];
  const full = list.length >= MAX_RESTREAMS;
  return (
    <section className="card" aria-labelledby="restream-h">
      <h3 id="restream-h" style={{ marginTop: 0 }}>
        Restream
      </h3>
      <p className="muted small">
        While you are live, the server sends your stream, as it arrives and without re-encoding, to each destination that is on: another platform's RTMP or
        RTMPS ingest and its stream key.
      </p>
      {q.isPending ? (
        <Loading label="Loading restream destinations" />
      ) : q.isError ? (
        <ErrorState error={q.error} retry={() => q.refetch()} />
      ) : list.length === 0 ? (
        <p className="muted">No destination yet.</p>
      ) : (
        <ul className="webhook-list" aria-label="Restream destinations">
          {list.map((d) => (
            <RestreamRow key={d.id} slug={slug} d={d} />
          ))}
        </ul>
      )}
      {!q.isPending && !q.isError && <AddRestream slug={slug} full={full} />}
    </section>
  );
}

/** Name, URL and key fields, shared by the add and edit forms. */
function RestreamFields({
  prefix,
  form,
  errors,
  set,
  keyHint,
}: {
  prefix: string;
  form: CreateRestream;
  errors: Errors;
  set: (k: keyof CreateRestream) => (e: { target: { value: string } }) => void;
  keyHint: string;
}) {
  const id = (f: string) => `${prefix}-${f}`;
  const by = (f: string, hint = false) => (errors[f] ? `${id(f)}-error` : hint ? `${id(f)}-hint` : undefined);
  return (
    <>
      <Field id={id('name')} label="Name" error={errors.name} hint="What you call it, e.g. YouTube.">
        <input id={id('name')} value={form.name} onChange={set('name')} aria-invalid={Boolean(errors.name)} aria-describedby={by('name', true)} autoComplete="off" />
      </Field>
      <Field id={id('url')} label="Server URL" error={errors.url} hint="The platform's RTMP server, e.g. rtmp://a.rtmp.youtube.com/live2, without the key.">
        <input
          id={id('url')}
          type="url"
          inputMode="url"
          placeholder="rtmp://"
          value={form.url}
          onChange={set('url')}
          aria-invalid={Boolean(errors.url)}
          aria-describedby={by('url', true)}
          autoComplete="off"
        />
      </Field>
      <Field id={id('stream_key')} label="Stream key" error={errors.stream_key} hint={keyHint}>
        <input
          id={id('stream_key')}
          type="password"
          value={form.stream_key}
          onChange={set('stream_key')}
          aria-invalid={Boolean(errors.stream_key)}
          aria-describedby={by('stream_key', true)}
          autoComplete="new-password"
        />
      </Field>
    </>
  );
}

/** Client-side problems of a destination; `needKey` when adding (editing keeps the stored key). */
export function restreamProblems(f: CreateRestream, needKey: boolean): Errors {
  const out: Errors = {};
  if (!f.name.trim()) out.name = 'give the destination a name';
  const url = restreamUrlProblem(f.url);
  if (url) out.url = url;
  if (needKey && !f.stream_key.trim()) out.stream_key = "enter the platform's stream key";
  return out;
}

const EMPTY: CreateRestream = { name: '', url: '', stream_key: '' };

function AddRestream({ slug, full }: { slug: string; full: boolean }) {
  const [form, setForm] = useState<CreateRestream>(EMPTY);
  const [errors, setErrors] = useState<Errors>({});
  const qc = useQueryClient();
  const toast = useToast();
  const show = (errs: Errors) => {
    setErrors(errs);
    focusFirstError(errs, ORDER, (f) => `rs-new-${f}`);
  };
  const create = useMutation({
    mutationFn: (body: CreateRestream) => api<RestreamDto>(restreamsPath(slug), { method: 'POST', body, auth: true }),
    onSuccess: (d) => {
      // The key leaves the page with the request.
      setForm(EMPTY);
      setErrors({});
      qc.invalidateQueries({ queryKey: keys.restreams(slug) });
      toast.show(`${d.name} added`, 'success');
    },
    onError: (e) => show(fieldErrors(e, ORDER)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (full) return;
    const problems = restreamProblems(form, true);
    if (Object.values(problems).some(Boolean)) return show(problems);
    setErrors({});
    create.mutate({ name: form.name.trim(), url: form.url.trim(), stream_key: form.stream_key.trim() });
  };
  const set = (k: keyof CreateRestream) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  return (
    <form onSubmit={submit} noValidate aria-labelledby="add-restream-h" className="add-webhook">
      <h4 id="add-restream-h">Add a destination</h4>
      {full ? (
        <p className="muted" id="restream-full" data-testid="restream-full">
          You have {MAX_RESTREAMS} destinations, the most a channel can have: delete one to add another.
        </p>
      ) : (
        <>
          {errors.form && (
            <p className="form-error" role="alert">
              {errors.form}
            </p>
          )}
          <RestreamFields prefix="rs-new" form={form} errors={errors} set={set} keyHint="From the platform's live dashboard. It is sent once and never shown again." />
        </>
      )}
      <button className="primary" type="submit" disabled={full || create.isPending} aria-describedby={full ? 'restream-full' : undefined}>
        {create.isPending ? 'Adding…' : 'Add destination'}
      </button>
    </form>
  );
}

function RestreamRow({ slug, d }: { slug: string; d: RestreamDto }) {
  const [editing, setEditing] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const qc = useQueryClient();
  const toast = useToast();
  const done = () => qc.invalidateQueries({ queryKey: keys.restreams(slug) });
  const toggle = useMutation({
    mutationFn: (enabled: boolean) => api<RestreamDto>(`${restreamsPath(slug)}/${d.id}`, { method: 'PATCH', body: { enabled } satisfies UpdateRestream, auth: true }),
    onSuccess: (r) => {
      done();
      toast.show(r.enabled ? `${r.name} is on` : `${r.name} is off`, 'success');
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  const del = useMutation({
    mutationFn: () => api<void>(`${restreamsPath(slug)}/${d.id}`, { method: 'DELETE', auth: true }),
    onSuccess: () => {
      done();
      toast.show(`${d.name} deleted`, 'success');
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  const w = restreamWords(d.state, d.enabled);
  const toggleId = `rs-${d.id}-enabled`;
  return (
    <li className="webhook" data-testid={`restream-${d.id}`}>
      <div className="row">
        <strong>{d.name}</strong>
        <TonePill text={w.text} tone={w.tone} testId={`restream-${d.id}-state`} />
        <code className="grow ellipsis" title={d.url}>
          {d.url}
        </code>
      </div>
      {d.last_error && (d.state === 'failed' || d.state === 'connecting') && (
        <p className="small last-error" style={{ margin: '4px 0 0' }} data-testid={`restream-${d.id}-error`}>
          {d.state === 'failed' ? 'Error' : 'Last error'}: <code>{d.last_error}</code>
        </p>
      )}
      <div className="row" style={{ marginTop: 6 }}>
        <label className="check grow" htmlFor={toggleId} style={{ margin: 0 }}>
          <input id={toggleId} type="checkbox" checked={d.enabled} disabled={toggle.isPending} onChange={(e) => toggle.mutate(e.target.checked)} />
          <span>Send to {d.name}</span>
        </label>
        <button aria-expanded={editing} aria-controls={`rs-${d.id}-edit`} onClick={() => setEditing((o) => !o)}>
          {editing ? 'Cancel edit' : 'Edit'}
        </button>
        <button className="danger" onClick={() => setConfirm(true)} disabled={del.isPending} aria-label={`Delete ${d.name}`}>
          Delete…
        </button>
      </div>
      {editing && <EditRestream slug={slug} d={d} onDone={() => setEditing(false)} />}
      {confirm && (
        <Confirm
          title={`Delete ${d.name}?`}
          confirmLabel="Delete destination"
          danger
          onCancel={() => setConfirm(false)}
          onConfirm={() => {
            setConfirm(false);
            del.mutate();
          }}
        >
          <p>
            The stream stops going to <code>{d.url}</code> at once, and its stored key is deleted.
          </p>
        </Confirm>
      )}
    </li>
  );
}

function EditRestream({ slug, d, onDone }: { slug: string; d: RestreamDto; onDone: () => void }) {
  const [form, setForm] = useState<CreateRestream>({ name: d.name, url: d.url, stream_key: '' });
  const [errors, setErrors] = useState<Errors>({});
  const prefix = `rs-${d.id}`;
  const qc = useQueryClient();
  const toast = useToast();
  const show = (errs: Errors) => {
    setErrors(errs);
    focusFirstError(errs, ORDER, (f) => `${prefix}-${f}`);
  };
  const save = useMutation({
    mutationFn: (body: UpdateRestream) => api<RestreamDto>(`${restreamsPath(slug)}/${d.id}`, { method: 'PATCH', body, auth: true }),
    onSuccess: (r) => {
      qc.invalidateQueries({ queryKey: keys.restreams(slug) });
      toast.show(`${r.name} saved`, 'success');
      onDone();
    },
    onError: (e) => show(fieldErrors(e, ORDER)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problems = restreamProblems(form, false);
    if (Object.values(problems).some(Boolean)) return show(problems);
    const body: UpdateRestream = {};
    if (form.name.trim() !== d.name) body.name = form.name.trim();
    if (form.url.trim() !== d.url) body.url = form.url.trim();
    if (form.stream_key.trim()) body.stream_key = form.stream_key.trim();
    if (Object.keys(body).length === 0) return onDone();
    save.mutate(body);
  };
  const set = (k: keyof CreateRestream) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  return (
    <form id={`${prefix}-edit`} onSubmit={submit} noValidate aria-label={`Edit ${d.name}`} style={{ marginTop: 10 }}>
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <RestreamFields prefix={prefix} form={form} errors={errors} set={set} keyHint="Leave empty to keep the stored key (it is never shown)." />
      <button className="primary" type="submit" disabled={save.isPending}>
        {save.isPending ? 'Saving…' : 'Save'}
      </button>
    </form>
  );
}
