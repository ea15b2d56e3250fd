// Admin → Reports: the moderation queue. Tabs for open, claimed and resolved cases, a kind
// filter, oldest first; a case opens with what was reported as it was then (the message and the
// chat around it, the channel's thumbnail when it was live), its reporters, claim, and a
// decision (action + note) that asks for confirmation before anything destructive. Admins and
// site moderators see it; the server checks each action again.
import { useEffect, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { API, api, errorMessage } from '../api/client';
import type { ReportDetail } from '../api/generated/ReportDetail';
import type { ReportDto } from '../api/generated/ReportDto';
import type { ReportPage } from '../api/generated/ReportPage';
import { useMe } from '../api/session';
import { tokens } from '../api/tokens';
import { RequireAuth } from '../components/RequireAuth';
import { Confirm, ErrorState, Loading, Pager, timeAgo } from '../components/States';
import { useToast } from '../components/Toasts';
import { accountable, actionLabel, actionsFor, caseTitle, resolveRequest } from '../admin/reports';
import { DURATIONS } from '../admin/users';

const PAGE = 25;
const STATES = [
  ['open', 'Open'],
  ['claimed', 'Claimed'],
  ['resolved', 'Resolved'],
] as const;
const KINDS = [
  ['', 'All kinds'],
  ['channel', 'Channels'],
  ['message', 'Chat messages'],
  ['video', 'Videos'],
  ['clip', 'Clips'],
] as const;

export function AdminReports() {
  return (
    <RequireAuth staff>
      <AdminReportsInner />
    </RequireAuth>
  );
}

function AdminReportsInner() {
  const me = useMe();
  const [state, setState] = useState<string>('open');
  const [kind, setKind] = useState<string>('');
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<number | null>(null);
  const cases = useQuery({
    queryKey: ['admin', 'reports', state, kind, offset],
    queryFn: ({ signal }) =>
      api<ReportPage>(`/admin/reports?state=${state}${kind ? `&kind=${kind}` : ''}&limit=${PAGE}&offset=${offset}`, { signal, auth: true }),
  });
  if (!me) return null;
  const page = cases.data;
  return (
    <div>
      <div className="row">
        <h1 className="grow">Reports</h1>
        {me.role === 'admin' && <Link to="/admin">Actor health</Link>}
        <Link to="/admin/users">Users</Link>
        {me.role === 'admin' && <Link to="/admin/audit">Audit log</Link>}
      </div>
      <div className="row">
        <div className="row" role="tablist" aria-label="Case state">
          {STATES.map(([s, label]) => (
            <button
              key={s}
              role="tab"
              className="chip"
              aria-selected={state === s}
              aria-pressed={state === s}
              onClick={() => {
                setState(s);
                setOffset(0);
                setSelected(null);
              }}
            >
              {label}
            </button>
          ))}
        </div>
        <label htmlFor="report-kind" className="visually-hidden">
          Kind
        </label>
        <select
          id="report-kind"
          value={kind}
          onChange={(e) => {
            setKind(e.target.value);
            setOffset(0);
          }}
        >
          {KINDS.map(([k, label]) => (
            <option key={k} value={k}>
              {label}
            </option>
          ))}
        </select>
      </div>
      {cases.isPending ? (
        <Loading label="Loading reports" />
      ) : cases.isError ? (
        <ErrorState error={cases.error} retry={() => cases.refetch()} />
      ) : page && page.items.length === 0 ? (
        <p className="muted">No {state} reports{kind ? ' of this kind' : ''}.</p>
      ) : (
        page && (
          <>
            <p className="muted small">
              {page.total} case{page.total === 1 ? '' : 's'}, oldest first
            </p>
            <div className="table-wrap">
              <table aria-label="Reports">
                <thead>
                  <tr>
                    <th>What</th>
                    <th>Reason</th>
                    <th>Reports</th>
                    <th>Opened</th>
                    <th>{state === 'resolved' ? 'Decision' : 'Claimed by'}</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((c) => (
                    <tr key={c.id} data-report={c.id} aria-selected={selected === c.id}>
                      <td>
                        <button className="link-button" onClick={() => setSelected(c.id)}>
                          {caseTitle(c)}
                        </button>
                      </td>
                      <td>{c.reason_label}</td>
                      <td>{c.report_count}</td>
                      <td className="small">{timeAgo(c.created_at)}</td>
                      <td className="small">{state === 'resolved' ? `${actionLabel(c.action)} by ${c.resolved_by ?? '?'}` : (c.claimed_by ?? '—')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager offset={offset} shown={page.items.length} total={page.total} size={PAGE} next={page.next_offset} onOffset={setOffset} />
          </>
        )
      )}
      {selected != null && <CaseDetail id={selected} onClose={() => setSelected(null)} />}
    </div>
  );
}

/** The thumbnail kept with a case, fetched with the bearer token (an <img> cannot send one). */
function useCaseThumbnail(id: number, has: boolean): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!has) return;
    let revoked = false;
    let made: string | null = null;
    (async () => {
      const token = await tokens.access();
      const res = await fetch(`${API}/admin/reports/${id}/thumbnail.jpg`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (!res.ok || revoked) return;
      made = URL.createObjectURL(await res.blob());
      setUrl(made);
    })().catch(() => setUrl(null));
    return () => {
      revoked = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [id, has]);
  return url;
}

function CaseDetail({ id, onClose }: { id: number; onClose: () => void }) {
  const me = useMe();
  const toast = useToast();
  const client = useQueryClient();
  const detail = useQuery({
    queryKey: ['admin', 'report', id],
    queryFn: ({ signal }) => api<ReportDetail>(`/admin/reports/${id}`, { signal, auth: true }),
  });
  const refresh = () => client.invalidateQueries({ queryKey: ['admin'] });
  const claim = useMutation({
    mutationFn: () => api<ReportDto>(`/admin/reports/${id}/claim`, { method: 'POST', auth: true }),
    onSuccess: () => {
      toast.show('Claimed', 'success');
      refresh();
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  const d = detail.data;
  const thumb = useCaseThumbnail(id, d?.report.has_thumbnail ?? false);
  if (detail.isPending) return <Loading label="Loading the case" />;
  if (!d) return <ErrorState error={detail.error} retry={() => detail.refetch()} />;
  const c = d.report;
  const s = c.snapshot;
  return (
    <section className="report-snapshot" aria-label={`Case ${c.id}`}>
      <div className="row">
        <h2 className="grow" style={{ margin: 0 }}>
          {caseTitle(c)}
        </h2>
        <button className="ghost" onClick={onClose}>
          Close
        </button>
      </div>
      <p className="muted small">
        Case {c.id} · {c.report_count} report{c.report_count === 1 ? '' : 's'} · first {timeAgo(c.created_at)} · now{' '}
        <span data-testid="item-status">{STATUS_WORDS[d.item_status] ?? d.item_status}</span>
        {s.channel_slug && (
          <>
            {' '}
            · <Link to={`/c/${s.channel_slug}`}>/{s.channel_slug}</Link>
          </>
        )}
      </p>
      {c.kind === 'message' && (
        <>
          <blockquote data-testid="reported-text">
            <strong>{s.author_name}</strong>: {s.message_text}
          </blockquote>
          {d.context.length > 0 && (
            <ol className="report-context" aria-label="Chat around the message">
              {d.context.map((m) => (
                <li key={m.id} className={[m.reported ? 'reported' : '', m.deleted ? 'deleted' : ''].join(' ')}>
                  <span className="muted small">{new Date(m.created_at).toLocaleTimeString()}</span> <strong>{m.username}</strong>: {m.text}
                  {m.deleted && <span className="muted small"> (deleted)</span>}
                </li>
              ))}
            </ol>
          )}
        </>
      )}
      {thumb && <img src={thumb} alt={`The stream when it was reported`} width={320} />}
      {c.has_thumbnail && !thumb && <p className="muted small">Loading the thumbnail kept with the case…</p>}
      {s.live && !c.has_thumbnail && <p className="muted small">It was live, but no thumbnail could be kept.</p>}
      <h3>Reporters</h3>
      <ul>
        {d.reporters.map((r) => (
          <li key={r.username}>
            <strong>{r.username}</strong>: {r.reason_label}
            {r.details && <span> — “{r.details}”</span>} <span className="muted small">{timeAgo(r.created_at)}</span>
          </li>
        ))}
      </ul>
      {c.state === 'resolved' ? (
        <p>
          Resolved {c.resolved_at && timeAgo(c.resolved_at)} by {c.resolved_by ?? '?'}: <strong>{actionLabel(c.action)}</strong>
          {c.note && <span> — {c.note}</span>}
        </p>
      ) : (
        <>
          {c.state === 'open' ? (
            <button onClick={() => claim.mutate()} disabled={claim.isPending}>
              Claim
            </button>
          ) : (
            <p className="muted small">
              Claimed by {c.claimed_by ?? '?'} {c.claimed_at && timeAgo(c.claimed_at)}
              {c.claimed_by === me?.username ? ' (you)' : ''}
            </p>
          )}
          <ResolveForm c={c} onDone={refresh} />
        </>
      )}
    </section>
  );
}

const STATUS_WORDS: Record<string, string> = {
  present: 'still up',
  deleted: 'deleted',
  taken_down: 'taken down',
  gone: 'gone',
};

function ResolveForm({ c, onDone }: { c: ReportDto; onDone: () => void }) {
  const toast = useToast();
  const actions = actionsFor(c.kind);
  const [action, setAction] = useState('dismiss');
  const [note, setNote] = useState('');
  const [duration, setDuration] = useState('1d');
  const [problem, setProblem] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const chosen = actions.find((a) => a.id === action);
  const send = async () => {
    const req = resolveRequest(action, note, duration);
    if ('problem' in req) return setProblem(req.problem);
    setBusy(true);
    setProblem(null);
    try {
      await api<ReportDto>(`/admin/reports/${c.id}/resolve`, { method: 'POST', body: req, auth: true });
      toast.show(`Case ${c.id} resolved: ${actionLabel(action)}`, 'success');
      onDone();
    } catch (err) {
      setProblem(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (chosen?.destructive) setConfirming(true);
    else send();
  };
  const who = accountable(c);
  return (
    <form onSubmit={submit} noValidate aria-label="Resolve the case">
      {problem && (
        <p className="form-error" role="alert">
          {problem}
        </p>
      )}
      <label htmlFor="resolve-action">Action</label>
      <select id="resolve-action" value={action} onChange={(e) => setAction(e.target.value)}>
        {actions.map((a) => (
          <option key={a.id} value={a.id}>
            {a.label}
          </option>
        ))}
      </select>
      {action === 'suspend' && (
        <>
          <label htmlFor="resolve-duration">Suspend {who ?? 'the account'} for</label>
          <select id="resolve-duration" value={duration} onChange={(e) => setDuration(e.target.value)}>
            {DURATIONS.map((d) => (
              <option key={d.id} value={d.id}>
                {d.label}
              </option>
            ))}
          </select>
        </>
      )}
      <label htmlFor="resolve-note">Note{action === 'suspend' ? ' (shown to the user as the reason)' : ''}</label>
      <textarea id="resolve-note" maxLength={1000} value={note} onChange={(e) => setNote(e.target.value)} />
      <div className="row" style={{ marginTop: 8 }}>
        <button type="submit" className={chosen?.destructive ? 'danger' : 'primary'} disabled={busy}>
          Resolve
        </button>
      </div>
      {confirming && chosen && (
        <Confirm
          title={`${chosen.label}?`}
          confirmLabel={chosen.label}
          danger
          onCancel={() => setConfirming(false)}
          onConfirm={() => {
            setConfirming(false);
            send();
          }}
        >
          <p>
            {action === 'suspend'
              ? `${who ?? 'The account'} is signed out everywhere, their streams end and their channels are hidden.`
              : action === 'take_down'
                ? `Viewers will see a notice instead of the ${c.kind}; its owner sees why.`
                : action === 'end_stream'
                  ? 'The broadcast ends now for every viewer.'
                  : 'The message disappears for everyone in the chat.'}{' '}
            Every reporter is told that action was taken.
          </p>
        </Confirm>
      )}
    </form>
  );
}
