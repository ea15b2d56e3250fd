// Admin → Audit log: every admin and moderator action, newest first, filtered by action, by
// actor or by target, paged with "Older".
import { useState } from 'react';
import { Link } from 'react-router-dom';
import { useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { AuditPage } from '../api/generated/AuditPage';
import { RequireAuth } from '../components/RequireAuth';
import { ErrorState, Loading } from '../components/States';
import { ACTION_LABELS } from '../admin/users';

export function AdminAudit() {
  return (
    <RequireAuth admin>
      <AdminAuditInner />
    </RequireAuth>
  );
}

function auditPath(f: { action: string; target: string }, before: number | null): string {
  const p = new URLSearchParams({ limit: '50' });
  if (f.action) p.set('action', f.action);
  if (f.target) {
    const [kind, ...id] = f.target.split(':');
    if (id.length > 0) {
      p.set('target_kind', kind);
      p.set('target_id', id.join(':'));
    }
  }
  if (before != null) p.set('before', String(before));
  return `/admin/audit?${p}`;
}

function AdminAuditInner() {
  const [action, setAction] = useState('');
  const [target, setTarget] = useState('');
  const log = useInfiniteQuery({
    queryKey: ['admin', 'audit', action, target],
    initialPageParam: null as number | null,
    queryFn: ({ pageParam, signal }) => api<AuditPage>(auditPath({ action, target }, pageParam), { signal, auth: true }),
    getNextPageParam: (last) => last.next_before,
  });
  const entries = log.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <div>
      <div className="row">
        <h1 className="grow">Audit log</h1>
        <Link to="/admin">Actor health</Link>
        <Link to="/admin/users">Users</Link>
        <Link to="/admin/dmca">DMCA</Link>
      </div>
      <div className="row">
        <label htmlFor="audit-action">Action</label>
        <select id="audit-action" value={action} onChange={(e) => setAction(e.target.value)}>
          <option value="">All actions</option>
          {Object.entries(ACTION_LABELS).map(([id, label]) => (
            <option key={id} value={id}>
              {label}
            </option>
          ))}
        </select>
        <label htmlFor="audit-target">Target</label>
        <input id="audit-target" placeholder="user:42 or channel:slug" value={target} onChange={(e) => setTarget(e.target.value.trim())} />
      </div>
      {log.isPending ? (
        <Loading label="Loading the audit log" />
      ) : log.isError ? (
        <ErrorState error={log.error} retry={() => log.refetch()} />
      ) : entries.length === 0 ? (
        <p className="muted">Nothing recorded{action || target ? ' for this filter' : ' yet'}.</p>
      ) : (
        <div className="table-wrap">
<table aria-label="Audit log">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>Did</th>
              <th>To</th>
              <th>Reason</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id} data-action={e.action}>
                <td className="small">{new Date(e.at).toLocaleString()}</td>
                <td>{e.actor_name ?? 'system'}</td>
                <td>{ACTION_LABELS[e.action] ?? e.action}</td>
                <td>
                  {e.target_kind} {typeof e.detail.username === 'string' ? `${e.detail.username} (${e.target_id})` : e.target_id}
                </td>
                <td>{e.reason ?? ''}</td>
                <td className="small muted">
                  <code>{JSON.stringify(e.detail)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
</div>
      )}
      {log.hasNextPage && (
        <button onClick={() => log.fetchNextPage()} disabled={log.isFetchingNextPage}>
          Older
        </button>
      )}
    </div>
  );
}
