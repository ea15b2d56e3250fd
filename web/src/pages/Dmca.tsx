// DMCA takedowns as the public and uploaders see them: the notice form at /dmca (no account
// needed), an uploader's page for a notice at /dmca/notices/:id (what was taken down, the
// counter-notice form or its state), and the notice shown in place of a video or clip that is
// down (`TakedownNotice`).
import { useState, type FormEvent, type ReactNode } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, api } from '../api/client';
import type { DmcaNoticeCreated } from '../api/generated/DmcaNoticeCreated';
import type { NewCounterNotice } from '../api/generated/NewCounterNotice';
import type { NewDmcaNotice } from '../api/generated/NewDmcaNotice';
import type { TakedownDto } from '../api/generated/TakedownDto';
import type { UploaderNoticeDto } from '../api/generated/UploaderNoticeDto';
import { RequireAuth } from '../components/RequireAuth';
import { ErrorState, Field, Loading } from '../components/States';
import {
  EMPTY_COUNTER,
  EMPTY_NOTICE,
  MAX_URLS,
  counterProblems,
  noticeProblems,
  urlLines,
  waitInWords,
  type CounterForm,
  type NoticeForm,
} from '../dmca/form';
import { hasProblems } from '../validate';
import { fieldErrors, focusFirstError } from './Auth';

type Errors = Partial<Record<string, string>>;

const NOTICE_ORDER = [
  'claimant_name',
  'claimant_email',
  'claimant_contact',
  'work_description',
  'urls',
  'good_faith',
  'accurate',
  'signature',
];
const COUNTER_ORDER = ['full_name', 'contact', 'statement', 'good_faith', 'consent_to_jurisdiction', 'signature'];

/** A text input or textarea bound to `form[name]`, with its error. */
function Input<F extends Record<string, string | boolean>>(p: {
  prefix: string;
  name: keyof F & string;
  label: string;
  form: F;
  set: (f: F) => void;
  errors: Errors;
  hint?: ReactNode;
  multiline?: boolean;
  type?: string;
  max: number;
}) {
  const id = `${p.prefix}-${p.name}`;
  const props = {
    id,
    name: p.name,
    value: String(p.form[p.name]),
    maxLength: p.max,
    'aria-invalid': Boolean(p.errors[p.name]),
    'aria-describedby': p.errors[p.name] ? `${id}-error` : p.hint ? `${id}-hint` : undefined,
    required: true,
  };
  return (
    <Field id={id} label={p.label} error={p.errors[p.name]} hint={p.hint}>
      {p.multiline ? (
        <textarea {...props} rows={4} onChange={(e) => p.set({ ...p.form, [p.name]: e.target.value })} />
      ) : (
        <input {...props} type={p.type ?? 'text'} onChange={(e) => p.set({ ...p.form, [p.name]: e.target.value })} />
      )}
    </Field>
  );
}

/** A statement the sender must tick, with its error. */
function Statement<F extends Record<string, string | boolean>>(p: {
  prefix: string;
  name: keyof F & string;
  form: F;
  set: (f: F) => void;
  errors: Errors;
  children: ReactNode;
}) {
  const id = `${p.prefix}-${p.name}`;
  return (
    <div className="field">
      <label className="check" htmlFor={id}>
        <input
          id={id}
          type="checkbox"
          checked={Boolean(p.form[p.name])}
          aria-invalid={Boolean(p.errors[p.name])}
          aria-describedby={p.errors[p.name] ? `${id}-error` : undefined}
          onChange={(e) => p.set({ ...p.form, [p.name]: e.target.checked })}
        />{' '}
        {p.children}
      </label>
      {p.errors[p.name] && (
        <div className="error" id={`${id}-error`} role="alert">
          {p.errors[p.name]}
        </div>
      )}
    </div>
  );
}

/** The public notice form at /dmca. */
export function DmcaNoticePage() {
  const [form, setForm] = useState<NoticeForm>(EMPTY_NOTICE);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState<DmcaNoticeCreated | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems = noticeProblems(form, window.location.origin);
    setErrors(problems);
    if (hasProblems(problems)) return focusFirstError(problems, NOTICE_ORDER, (f) => `dmca-${f}`);
    setBusy(true);
    try {
      const body: NewDmcaNotice = { ...form, urls: urlLines(form.urls) };
      setSent(await api<DmcaNoticeCreated>('/dmca/notices', { method: 'POST', body, auth: false }));
    } catch (err) {
      const errs = fieldErrors(err, NOTICE_ORDER);
      setErrors(errs);
      focusFirstError(errs, NOTICE_ORDER, (f) => `dmca-${f}`);
    } finally {
      setBusy(false);
    }
  };
  if (sent) {
    return (
      <article className="prose" role="status">
        <h1>Notice {sent.id} received</h1>
        <p>{sent.message}</p>
        <p>
          <Link to="/terms#copyright">How takedowns work</Link>
        </p>
      </article>
    );
  }
  const common = { prefix: 'dmca', form, set: setForm, errors };
  return (
    <article className="prose">
      <h1>Report copyright infringement (DMCA notice)</h1>
      <p>
        If a video or clip on this server uses your copyrighted work without permission, send a notice. An administrator reviews it; if it is
        complete, what it names is taken down and its uploader is told, and may answer with a counter-notice. See{' '}
        <Link to="/terms#copyright">how takedowns work</Link>. Knowingly false notices can make you liable for damages.
      </p>
      <form onSubmit={submit} noValidate aria-label="DMCA notice">
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        <Input {...common} name="claimant_name" label="Your full name (or your company's)" max={200} />
        <Input {...common} name="claimant_email" label="Email" type="email" max={254} />
        <Input {...common} name="claimant_contact" label="Postal address and phone number" multiline max={500} />
        <Input {...common} name="work_description" label="The copyrighted work" multiline max={5000} hint="What it is, and where the original can be found." />
        <Input
          {...common}
          name="urls"
          label="Addresses of the infringing videos or clips on this server"
          multiline
          max={MAX_URLS * 2100}
          hint={`One per line, up to ${MAX_URLS}, e.g. ${window.location.origin}/v/…`}
        />
        <Statement {...common} name="good_faith">
          I have a good faith belief that use of the material in the manner complained of is not authorized by the copyright owner, its agent, or the
          law.
        </Statement>
        <Statement {...common} name="accurate">
          The information in this notice is accurate, and under penalty of perjury, I am the owner, or authorized to act on behalf of the owner, of
          the right that is allegedly infringed.
        </Statement>
        <Input {...common} name="signature" label="Electronic signature: type your full name" max={200} />
        <button className="primary" type="submit" disabled={busy}>
          {busy ? 'Sending…' : 'Send notice'}
        </button>
      </form>
    </article>
  );
}

/** What a viewer, or the owner, sees in place of a video or clip that is down. */
export function TakedownNotice({ notice, takedown }: { notice: string; takedown?: TakedownDto | null }) {
  return (
    <div className="offline" role="status" data-status="taken_down">
      <div>
        <span className="pill bad">Taken down</span>
        <h2>{notice}</h2>
        {takedown ? (
          <p className="muted">
            Only you (and administrators) see this page. It is hidden, not deleted.{' '}
            {takedown.dmca_notice_id != null && (
              <Link to={`/dmca/notices/${takedown.dmca_notice_id}`}>Read the notice or file a counter-notice</Link>
            )}
          </p>
        ) : (
          <p className="muted">
            This is no longer available. <Link to="/terms#copyright">Why content is taken down</Link>
          </p>
        )}
      </div>
    </div>
  );
}

/** The 410 `taken_down` a viewer gets, as its notice; null for other errors. */
export function takenDownNotice(error: unknown): string | null {
  return error instanceof ApiError && error.code === 'taken_down' ? error.message : null;
}

/** An uploader's page for a notice: what it took down and their counter-notice. */
export function DmcaCasePage() {
  return (
    <RequireAuth>
      <DmcaCase />
    </RequireAuth>
  );
}

function DmcaCase() {
  const { id = '' } = useParams();
  const notice = useQuery({
    queryKey: ['dmca', id],
    queryFn: ({ signal }) => api<UploaderNoticeDto>(`/dmca/notices/${encodeURIComponent(id)}`, { signal, auth: true }),
  });
  if (notice.isPending) return <Loading label="Loading the notice" />;
  if (notice.isError) return <ErrorState error={notice.error} retry={() => notice.refetch()} />;
  const n = notice.data;
  return (
    <article className="prose">
      <h1>DMCA notice {n.id}</h1>
      <p>
        <strong>{n.claimant_name}</strong> claims that the following uses their work: <q>{n.work_description}</q>
      </p>
      <ul aria-label="What it names">
        {n.items.map((i) => (
          <li key={i.id}>
            {i.kind} <Link to={i.kind === 'clip' ? `/clip/${i.id}` : `/v/${i.id}`}>{i.title ?? i.id}</Link> —{' '}
            <span className={`pill ${i.status === 'up' ? 'ok' : 'bad'}`}>{ITEM_STATUS[i.status] ?? i.status}</span>
          </li>
        ))}
      </ul>
      {n.state === 'received' && <p>An administrator has not decided on it yet; nothing has been taken down.</p>}
      {n.state === 'rejected' && <p>An administrator rejected this notice; nothing was taken down.</p>}
      {n.counter ? (
        <CounterState counter={n.counter} />
      ) : n.legal_action ? (
        <p role="status">The claimant has gone to court over this notice: a counter-notice no longer restores it.</p>
      ) : (
        n.can_counter && <CounterNoticeForm id={n.id} wait={n.restore_after_secs} />
      )}
    </article>
  );
}

const ITEM_STATUS: Record<string, string> = {
  up: 'up',
  taken_down: 'taken down',
  taken_down_other: 'taken down (another case)',
  gone: 'deleted',
};

function CounterState({ counter }: { counter: NonNullable<UploaderNoticeDto['counter']> }) {
  const due = new Date(counter.restore_due_at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return (
    <section aria-labelledby="counter-h" role="status">
      <h2 id="counter-h">Your counter-notice</h2>
      {counter.state === 'waiting' && <p>Filed. What was taken down comes back on {due}, unless the claimant goes to court first.</p>}
      {counter.state === 'restored' && <p>Filed, and what was taken down has been restored.</p>}
      {counter.state === 'legal_action' && <p>Filed, but the claimant has gone to court: it stays down until the court decides.</p>}
    </section>
  );
}

function CounterNoticeForm({ id, wait }: { id: number; wait: number }) {
  const client = useQueryClient();
  const [form, setForm] = useState<CounterForm>(EMPTY_COUNTER);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problems = counterProblems(form);
    setErrors(problems);
    if (hasProblems(problems)) return focusFirstError(problems, COUNTER_ORDER, (f) => `counter-${f}`);
    setBusy(true);
    try {
      const body: NewCounterNotice = form;
      const updated = await api<UploaderNoticeDto>(`/dmca/notices/${id}/counter`, { method: 'POST', body, auth: true });
      client.setQueryData(['dmca', String(id)], updated);
    } catch (err) {
      const errs = fieldErrors(err, COUNTER_ORDER);
      setErrors(errs);
      focusFirstError(errs, COUNTER_ORDER, (f) => `counter-${f}`);
    } finally {
      setBusy(false);
    }
  };
  const common = { prefix: 'counter', form, set: setForm, errors };
  return (
    <section aria-labelledby="file-counter-h">
      <h2 id="file-counter-h">File a counter-notice</h2>
      <p>
        If this was taken down by mistake or misidentification, say so here. Your counter-notice, with your name and address, is sent to the
        claimant. What was taken down comes back {waitInWords(wait)} later, unless the claimant tells us before then that they have gone to court.
      </p>
      <form onSubmit={submit} noValidate aria-label="Counter-notice">
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        <Input {...common} name="full_name" label="Your full name" max={200} />
        <Input {...common} name="contact" label="Postal address and phone number" multiline max={500} />
        <Input {...common} name="statement" label="Why it was a mistake or misidentification" multiline max={5000} />
        <Statement {...common} name="good_faith">
          Under penalty of perjury, I have a good faith belief that the material was removed or disabled as a result of mistake or misidentification.
        </Statement>
        <Statement {...common} name="consent_to_jurisdiction">
          I consent to the jurisdiction of the court for my address (or, outside the US, any judicial district in which this service may be found),
          and will accept service of process from the claimant.
        </Statement>
        <Input {...common} name="signature" label="Electronic signature: type your full name" max={200} />
        <button className="primary" type="submit" disabled={busy}>
          {busy ? 'Sending…' : 'File counter-notice'}
        </button>
      </form>
    </section>
  );
}
