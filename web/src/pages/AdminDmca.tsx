// Admin → DMCA: the notices, newest first, filtered by state and paged; a notice's detail at
// /admin/dmca/:id (the claimant, the work, each URL with its item's state now, the
// counter-notices) with its decisions behind a confirmation: take down, reject with a note,
// record legal action (stops the restores counter-notices scheduled).
import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { AdminDmcaNotice } from '../api/generated/AdminDmcaNotice';
import type { AdminDmcaPage } from '../api/generated/AdminDmcaPage';
import { RequireAuth } from '../components/RequireAuth';
import { Confirm, ErrorState, Loading, Pager, timeAgo } from '../components/States';
import { useToast } from '../components/Toasts';

const PAGE = 25;
const STATES = [
  { id: '', label: 'All' },
  { id: 'received', label: 'Waiting for a decision' },
  { id: 'taken_down', label: 'Taken down' },
  { id: 'rejected', label: 'Rejected' },
];
const STATE_LABEL: Record<string, string> = { received: 'waiting', taken_down: 'taken down', rejected: 'rejected' };
const ITEM_STATUS: Record<string, string> = {
  up: 'up',
  taken_down: 'taken down',
  taken_down_other: 'taken down by another case',
  gone: 'deleted',
};

export function AdminDmca() {
  return (
    <RequireAuth admin>
      <AdminDmcaList />
    </RequireAuth>
  );
}

export function AdminDmcaDetailPage() {
  return (
    <RequireAuth admin>
      <AdminDmcaDetail />
    </RequireAuth>
  );
}

function Header() {
  return (
    <div className="row">
      <h1 className="grow">DMCA notices</h1>
      <Link to="/admin">Actor health</Link>
      <Link to="/admin/users">Users</Link>
      <Link to="/admin/audit">Audit log</Link>
    </div>
  );
}

function AdminDmcaList() {
  const [state, setState] = useState('');
  const [offset, setOffset] = useState(0);
  const list = useQuery({
    queryKey: ['admin', 'dmca', state, offset],
    queryFn: ({ signal }) => api<AdminDmcaPage>(`/admin/dmca?state=${state}&limit=${PAGE}&offset=${offset}`, { signal, auth: true }),
  });
  const page = list.data;
  return (
    <div>
      <Header />
      <div className="row">
        <label htmlFor="dmca-state">Show</label>
        <select
          id="dmca-state"
          value={state}
          onChange={(e) => {
            setState(e.target.value);
            setOffset(0);
          }}
        >
          {STATES.map((s) => (
            <option key={s.id} value={s.id}>
              {s.label}
            </option>
          ))}
        </select>
      </div>
      {list.isPending ? (
        <Loading label="Loading notices" />
      ) : list.isError ? (
        <ErrorState error={list.error} retry={() => list.refetch()} />
      ) : page && page.items.length === 0 ? (
        <p className="muted">No notices here.</p>
      ) : (
        page && (
          <>
            <div className="table-wrap">
              <table aria-label="DMCA notices">
                <thead>
                  <tr>
                    <th>Notice</th>
                    <th>Claimant</th>
                    <th>Received</th>
                    <th>Items</th>
                    <th>State</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((n) => (
                    <tr key={n.id} data-notice={n.id}>
                      <td>
                        <Link to={`/admin/dmca/${n.id}`}>Notice {n.id}</Link>
                      </td>
                      <td>
                        {n.claimant_name}
                        <div className="muted small">{n.claimant_email}</div>
                      </td>
                      <td className="small">{timeAgo(n.created_at)}</td>
                      <td>{n.items}</td>
                      <td>
                        <span className={`pill ${n.state === 'received' ? 'warn' : n.state === 'taken_down' ? 'bad' : ''}`}>{STATE_LABEL[n.state] ?? n.state}</span>
                        {n.counters_waiting > 0 && <span className="pill warn"> counter-notice: restore scheduled</span>}
                        {n.legal_action_at && <span className="pill"> in court</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <Pager offset={offset} shown={page.items.length} total={page.total} size={PAGE} next={page.next_offset} onOffset={setOffset} />
          </>
        )
      )}
    </div>
  );
}

type Decision = 'takedown' | 'reject' | 'legal-action';

function AdminDmcaDetail() {
  const { id = '' } = useParams();
  const toast = useToast();
  const client = useQueryClient();
  const [asking, setAsking] = useState<Decision | null>(null);
  const notice = useQuery({
    queryKey: ['admin', 'dmca', 'notice', id],
    queryFn: ({ signal }) => api<AdminDmcaNotice>(`/admin/dmca/${encodeURIComponent(id)}`, { signal, auth: true }),
  });
  const decide = useMutation({
    mutationFn: (d: { what: Decision; note?: string }) =>
      api<AdminDmcaNotice>(`/admin/dmca/${encodeURIComponent(id)}/${d.what}`, {
        method: 'POST',
        body: d.what === 'takedown' ? {} : { note: d.note },
        auth: true,
      }),
    onSuccess: (updated, d) => {
      client.setQueryData(['admin', 'dmca', 'notice', id], updated);
      client.invalidateQueries({ queryKey: ['admin', 'dmca'] });
      setAsking(null);
      toast.show({ takedown: 'Taken down; the uploaders are notified', reject: 'Notice rejected', 'legal-action': 'Legal action recorded' }[d.what], 'success');
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  if (notice.isPending) return <Loading label="Loading the notice" />;
  if (notice.isError) return <ErrorState error={notice.error} retry={() => notice.refetch()} />;
  const n = notice.data;
  const waiting = n.counters.filter((c) => c.state === 'waiting').length;
  return (
    <div>
      <Header />
      <p>
        <Link to="/admin/dmca">All notices</Link>
      </p>
      <section className="card" aria-labelledby="notice-h">
        <h2 id="notice-h">
          Notice {n.id} <span className="pill">{STATE_LABEL[n.state] ?? n.state}</span>
        </h2>
        <dl className="facts">
          <dt>Claimant</dt>
          <dd>
            {n.claimant_name} &lt;{n.claimant_email}&gt;
          </dd>
          <dt>Address and phone</dt>
          <dd className="pre">{n.claimant_contact}</dd>
          <dt>The work</dt>
          <dd className="pre">{n.work_description}</dd>
          <dt>Signed</dt>
          <dd>
            {n.signature}, {new Date(n.created_at).toLocaleString()}
          </dd>
          {n.decided_at && (
            <>
              <dt>Decided</dt>
              <dd>
                {new Date(n.decided_at).toLocaleString()} by {n.decided_by ?? 'a deleted admin'}
                {n.decision_note && `: ${n.decision_note}`}
              </dd>
            </>
          )}
          {n.legal_action_at && (
            <>
              <dt>Legal action</dt>
              <dd>
                recorded {new Date(n.legal_action_at).toLocaleString()}: {n.legal_action_note}
              </dd>
            </>
          )}
        </dl>
        <h3>What it names</h3>
        <div className="table-wrap">
          <table aria-label="Named items">
            <thead>
              <tr>
                <th>URL</th>
                <th>Item</th>
                <th>Uploader</th>
                <th>Now</th>
              </tr>
            </thead>
            <tbody>
              {n.items.map((i) => (
                <tr key={`${i.kind}-${i.id}`} data-item={i.id}>
                  <td className="small ellipsis">{i.url}</td>
                  <td>
                    {i.kind}{' '}
                    {i.status === 'gone' ? i.id : <Link to={i.kind === 'clip' ? `/clip/${i.id}` : `/v/${i.id}`}>{i.title ?? i.id}</Link>}
                    {i.channel_slug && <div className="muted small">/{i.channel_slug}</div>}
                  </td>
                  <td>{i.owner_name ?? 'deleted account'}</td>
                  <td>
                    <span className={`pill ${i.status === 'up' ? 'ok' : 'bad'}`}>{ITEM_STATUS[i.status] ?? i.status}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {n.counters.length > 0 && (
          <>
            <h3>Counter-notices</h3>
            {n.counters.map((c) => (
              <div key={c.id} className="card" data-counter={c.id}>
                <p>
                  <strong>{c.full_name}</strong> ({c.username ?? 'deleted account'}), {new Date(c.created_at).toLocaleString()}:{' '}
                  <span className="pill">{c.state === 'waiting' ? `restore on ${new Date(c.restore_due_at).toLocaleString()}` : c.state.replace('_', ' ')}</span>
                </p>
                <p className="pre">{c.statement}</p>
                <p className="muted small pre">
                  {c.contact} — signed {c.signature}
                </p>
              </div>
            ))}
          </>
        )}
        <div className="row">
          {n.state === 'received' && (
            <>
              <button className="danger" onClick={() => setAsking('takedown')}>
                Take down
              </button>
              <button onClick={() => setAsking('reject')}>Reject</button>
            </>
          )}
          {n.state === 'taken_down' && !n.legal_action_at && <button onClick={() => setAsking('legal-action')}>Record legal action</button>}
        </div>
      </section>
      {asking === 'takedown' && (
        <Confirm
          title={`Take down what notice ${n.id} names?`}
          confirmLabel="Take down"
          danger
          onCancel={() => setAsking(null)}
          onConfirm={() => decide.mutate({ what: 'takedown' })}
        >
          <p>
            {n.items.length} {n.items.length === 1 ? 'item is' : 'items are'} hidden (not deleted) with “Taken down after DMCA notice {n.id}”. Their
            uploaders are notified and may file a counter-notice. This counts against their accounts.
          </p>
        </Confirm>
      )}
      {(asking === 'reject' || asking === 'legal-action') && (
        <NoteDialog
          title={asking === 'reject' ? `Reject notice ${n.id}` : `Record legal action on notice ${n.id}`}
          explain={
            asking === 'reject'
              ? 'Nothing is taken down. The note is kept with the notice and in the audit log.'
              : `The claimant has gone to court: ${waiting} scheduled ${waiting === 1 ? 'restore stops' : 'restores stop'}, and later counter-notices are refused. Note the case.`
          }
          confirm={asking === 'reject' ? 'Reject' : 'Record legal action'}
          busy={decide.isPending}
          onCancel={() => setAsking(null)}
          onSubmit={(note) => decide.mutate({ what: asking, note })}
        />
      )}
    </div>
  );
}

function NoteDialog(p: { title: string; explain: string; confirm: string; busy: boolean; onCancel: () => void; onSubmit: (note: string) => void }) {
  const [note, setNote] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const t = note.trim();
    if (!t || t.length > 1000) return setProblem('Write a note: 1 to 1000 characters.');
    p.onSubmit(t);
  };
  return (
    <div className="modal-back" onKeyDown={(e) => e.key === 'Escape' && p.onCancel()}>
      <form className="modal" role="dialog" aria-modal="true" aria-labelledby="note-title" onSubmit={submit} noValidate>
        <h2 id="note-title" style={{ marginTop: 0 }}>
          {p.title}
        </h2>
        <p className="muted small">{p.explain}</p>
        {problem && (
          <p className="form-error" role="alert">
            {problem}
          </p>
        )}
        <label htmlFor="dmca-note">Note</label>
        <textarea id="dmca-note" maxLength={1000} value={note} onChange={(e) => setNote(e.target.value)} required />
        <div className="row" style={{ justifyContent: 'flex-end', marginTop: 16 }}>
          <button type="button" onClick={p.onCancel} autoFocus>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={p.busy}>
            {p.confirm}
          </button>
        </div>
      </form>
    </div>
  );
}
