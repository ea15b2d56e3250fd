// Admin → Users: search and page through accounts; suspend (a duration and a reason), lift a
// suspension, change a role, delete behind a confirmation. Moderators see the page too and may
// suspend ordinary users; the buttons offered follow `allowedActions`, the server checks again.
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { AdminUserDto } from '../api/generated/AdminUserDto';
import type { AdminUserPage } from '../api/generated/AdminUserPage';
import { useMe } from '../api/session';
import { RequireAuth } from '../components/RequireAuth';
import { Confirm, ErrorState, Loading, Pager, timeAgo } from '../components/States';
import { useToast } from '../components/Toasts';
import { DURATIONS, ROLES, allowedActions, suspendRequest, suspensionEnd } from '../admin/users';

const PAGE = 25;

export function AdminUsers() {
  return (
    <RequireAuth staff>
      <AdminUsersInner />
    </RequireAuth>
  );
}

function AdminUsersInner() {
  const me = useMe();
  const toast = useToast();
  const client = useQueryClient();
  const [typed, setTyped] = useState('');
  const [q, setQ] = useState('');
  const [offset, setOffset] = useState(0);
  const [suspending, setSuspending] = useState<AdminUserDto | null>(null);
  const [deleting, setDeleting] = useState<AdminUserDto | null>(null);
  const users = useQuery({
    queryKey: ['admin', 'users', q, offset],
    queryFn: ({ signal }) =>
      api<AdminUserPage>(`/admin/users?q=${encodeURIComponent(q)}&limit=${PAGE}&offset=${offset}`, { signal, auth: true }),
  });
  const refresh = () => client.invalidateQueries({ queryKey: ['admin', 'users'] });
  const act = useMutation({
    mutationFn: (a: { path: string; method: string; body?: unknown; done: string }) =>
      api<unknown>(a.path, { method: a.method, body: a.body, auth: true }).then(() => a.done),
    onSuccess: (done) => {
      toast.show(done, 'success');
      refresh();
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  const search = (e: FormEvent) => {
    e.preventDefault();
    setOffset(0);
    setQ(typed.trim());
  };
  if (!me) return null;
  const page = users.data;
  return (
    <div>
      <div className="row">
        <h1 className="grow">Users</h1>
        <Link to="/admin">Actor health</Link>
        <Link to="/admin/reports">Reports</Link>
        {me.role === 'admin' && <Link to="/admin/audit">Audit log</Link>}
        {me.role === 'admin' && <Link to="/admin/dmca">DMCA</Link>}
      </div>
      <form className="row" role="search" onSubmit={search}>
        <label htmlFor="user-search" className="visually-hidden">
          Search users
        </label>
        <input id="user-search" type="search" placeholder="Name or email" value={typed} onChange={(e) => setTyped(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      {users.isPending ? (
        <Loading label="Loading users" />
      ) : users.isError ? (
        <ErrorState error={users.error} retry={() => users.refetch()} />
      ) : page && page.items.length === 0 ? (
        <p className="muted">No user matches “{q}”.</p>
      ) : (
        page && (
          <>
            <p className="muted small">
              {page.total} user{page.total === 1 ? '' : 's'}
              {q ? ` matching “${q}”` : ''}
            </p>
            <div className="table-wrap">
<table aria-label="Users">
              <thead>
                <tr>
                  <th>User</th>
                  <th>Role</th>
                  <th>Joined</th>
                  <th>Channels</th>
                  <th>
                    <abbr title="DMCA notices whose takedown stood (repeat-infringer count)">DMCA</abbr>
                  </th>
                  <th>Status</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((u) => {
                  const can = allowedActions(me, u);
                  return (
                    <tr key={u.id} data-user={u.username}>
                      <td>
                        <strong>{u.username}</strong>
                        {u.display_name !== u.username && <span className="muted"> ({u.display_name})</span>}
                        <div className="muted small">{u.email}</div>
                      </td>
                      <td>
                        {can.changeRole ? (
                          <select
                            aria-label={`Role of ${u.username}`}
                            value={u.role}
                            onChange={(e) =>
                              act.mutate({
                                path: `/admin/users/${u.id}/role`,
                                method: 'PUT',
                                body: { role: e.target.value },
                                done: `${u.username} is now ${e.target.value}`,
                              })
                            }
                          >
                            {ROLES.map((r) => (
                              <option key={r} value={r}>
                                {r}
                              </option>
                            ))}
                          </select>
                        ) : (
                          u.role
                        )}
                      </td>
                      <td className="small">{timeAgo(u.created_at)}</td>
                      <td>
                        {u.channels}
                        {u.live && <span className="pill bad"> live</span>}
                      </td>
                      <td>
                        {u.dmca_strikes > 0 ? (
                          <span className="pill warn" title="DMCA notices whose takedown stood">
                            {u.dmca_strikes}
                          </span>
                        ) : (
                          0
                        )}
                      </td>
                      <td>
                        {u.suspension ? (
                          <span className="pill warn" title={u.suspension.reason}>
                            suspended {suspensionEnd(u.suspension)}: {u.suspension.reason}
                          </span>
                        ) : (
                          <span className="pill ok">active</span>
                        )}
                      </td>
                      <td className="row">
                        {can.suspend && <button onClick={() => setSuspending(u)}>Suspend</button>}
                        {can.unsuspend && (
                          <button
                            onClick={() =>
                              act.mutate({ path: `/admin/users/${u.id}/suspension`, method: 'DELETE', done: `${u.username} may sign in again` })
                            }
                          >
                            Unsuspend
                          </button>
                        )}
                        {can.delete && (
                          <button className="danger" onClick={() => setDeleting(u)}>
                            Delete
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
</div>
            <Pager offset={offset} shown={page.items.length} total={page.total} size={PAGE} next={page.next_offset} onOffset={setOffset} />
          </>
        )
      )}
      {suspending && (
        <SuspendDialog
          user={suspending}
          onCancel={() => setSuspending(null)}
          onDone={() => {
            setSuspending(null);
            refresh();
          }}
        />
      )}
      {deleting && (
        <Confirm
          title={`Delete ${deleting.username}?`}
          confirmLabel="Delete user"
          danger
          onCancel={() => setDeleting(null)}
          onConfirm={() => {
            act.mutate({ path: `/admin/users/${deleting.id}`, method: 'DELETE', done: `${deleting.username} deleted` });
            setDeleting(null);
          }}
        >
          <p>
            Their account, {deleting.channels} channel{deleting.channels === 1 ? '' : 's'} with all videos and clips, their follows and notifications are
            removed for good. This cannot be undone.
          </p>
        </Confirm>
      )}
    </div>
  );
}

function SuspendDialog({ user, onCancel, onDone }: { user: AdminUserDto; onCancel: () => void; onDone: () => void }) {
  const toast = useToast();
  const [duration, setDuration] = useState('1d');
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const req = suspendRequest(duration, reason);
    if ('problem' in req) return setProblem(req.problem);
    setBusy(true);
    try {
      await api<AdminUserDto>(`/admin/users/${user.id}/suspend`, { method: 'POST', body: req, auth: true });
      toast.show(`${user.username} suspended`, 'success');
      onDone();
    } catch (err) {
      setProblem(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="modal-back" onKeyDown={(e) => e.key === 'Escape' && onCancel()}>
      <form className="modal" role="dialog" aria-modal="true" aria-labelledby="suspend-title" onSubmit={submit} noValidate>
        <h2 id="suspend-title" style={{ marginTop: 0 }}>
          Suspend {user.username}
        </h2>
        <p className="muted small">They are signed out everywhere, their live streams end and their channels are hidden until the suspension ends.</p>
        {problem && (
          <p className="form-error" role="alert">
            {problem}
          </p>
        )}
        <label htmlFor="suspend-duration">For</label>
        <select id="suspend-duration" value={duration} onChange={(e) => setDuration(e.target.value)}>
          {DURATIONS.map((d) => (
            <option key={d.id} value={d.id}>
              {d.label}
            </option>
          ))}
        </select>
        <label htmlFor="suspend-reason">Reason (shown to the user)</label>
        <textarea id="suspend-reason" maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} required />
        <div className="row" style={{ justifyContent: 'flex-end', marginTop: 16 }}>
          <button type="button" onClick={onCancel} autoFocus>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={busy}>
            Suspend
          </button>
        </div>
      </form>
    </div>
  );
}
