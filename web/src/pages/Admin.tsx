import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { api, errorMessage } from '../api/client';
import type { ActorHealth } from '../api/generated/ActorHealth';
import type { HealthTree } from '../api/generated/HealthTree';
import type { NotifierHealth } from '../api/generated/NotifierHealth';
import type { StreamHealth } from '../api/generated/StreamHealth';
import { StatusBadge, actorTone } from '../components/streamState';
import { tokens } from '../api/tokens';
import { RequireAuth } from '../components/RequireAuth';
import { Confirm, Loading, duration } from '../components/States';
import { useToast } from '../components/Toasts';
import { Observer } from '../admin/Observer';
import { type History, recordAll } from '../admin/model';

export function Admin() {
  return (
    <RequireAuth admin>
      <AdminInner />
    </RequireAuth>
  );
}

type Conn = 'connecting' | 'open' | 'closed';

type Row = { a: ActorHealth; extra?: string; action?: { label: string; run: () => void } };

/** The live tree over `/api/v1/admin/health/ws`: auth as the first frame, then a tree a second. */
function useHealthSocket(): { tree: HealthTree | null; conn: Conn; error: string | null } {
  const [tree, setTree] = useState<HealthTree | null>(null);
  const [conn, setConn] = useState<Conn>('connecting');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stopped = false;
    let sock: WebSocket | null = null;
    let timer: number | undefined;
    let attempt = 0;
    const connect = async () => {
      setConn('connecting');
      const token = await tokens.access();
      if (stopped) return;
      if (!token) {
        setError('Signed out');
        setConn('closed');
        return;
      }
      const proto = window.location.protocol === 'https:' ? 'wss' : 'ws';
      sock = new WebSocket(`${proto}://${window.location.host}/api/v1/admin/health/ws`);
      sock.onopen = () => sock?.send(JSON.stringify({ type: 'auth', token }));
      sock.onmessage = (e) => {
        attempt = 0;
        setConn('open');
        setError(null);
        try {
          setTree(JSON.parse(String(e.data)) as HealthTree);
        } catch {
          // A frame that is not the tree: ignore.
        }
      };
      sock.onclose = (e) => {
        if (stopped) return;
        setConn('closed');
        if (e.reason) setError(e.reason);
        attempt += 1;
        timer = window.setTimeout(connect, Math.min(10_000, 500 * 2 ** attempt));
      };
    };
    connect();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      sock?.close(1000);
    };
  }, []);
  return { tree, conn, error };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Alarms (red): an actor that failed or is restarting, with its last error, or a queue that
 * backs up. Idle, stopped, running and live are normal; starting, grace and ending pass.
 */
export function actorProblems(a: ActorHealth): string[] {
  const p: string[] = [];
  if (actorTone(a.state) === 'alarm') p.push(a.last_error ? `${a.state}: ${a.last_error}` : a.state);
  if (a.mailbox != null && a.mailbox > 256) p.push(`mailbox ${a.mailbox}`);
  return p;
}

/** Worth a look but not an alarm (amber): an error an actor recovered from. */
export function actorNotes(a: ActorHealth): string[] {
  return actorTone(a.state) !== 'alarm' && a.last_error ? [`last error: ${a.last_error}`] : [];
}

/** A stream's alarms: failed (viewers cannot watch), or a child failing or restarting. */
export function streamProblems(s: StreamHealth): string[] {
  const p = actorProblems(s.actor);
  // A failed stream: its problem says what its state and last error would.
  if (s.status === 'failed') p.splice(0, p.length, ...p.filter((x) => x.startsWith('mailbox')), s.problem ?? s.actor.last_error ?? 'viewers cannot watch');
  for (const c of s.children) if (actorProblems(c).length) p.push(`${c.kind}: ${actorProblems(c).join(', ')}`);
  return [...new Set(p)];
}

/** A stream's notes: what the streamer is told, and what an operator may want to know. */
export function streamNotes(s: StreamHealth): string[] {
  const n: string[] = [];
  if (s.protocol) n.push(`in over ${s.protocol.toUpperCase()}`);
  if (s.status !== 'failed' && s.problem) n.push(s.problem);
  if (!s.publisher_connected) n.push('publisher disconnected');
  if (s.segments_lost > 0) n.push(`${s.segments_lost} segments lost`);
  return [...n, ...s.warnings];
}

/** The state pill: red for alarms, amber while passing through, green or grey when normal. */
function statePill(state: string): string {
  const tone = actorTone(state);
  if (tone === 'alarm') return 'bad';
  if (tone === 'passing') return 'warn';
  return state === 'running' || state === 'live' ? 'ok' : '';
}

function ActorRow({ a, extra, action }: Row) {
  const problems = actorProblems(a);
  const alarm = actorTone(a.state) === 'alarm';
  return (
    <tr className={problems.length ? 'unhealthy' : undefined} data-kind={a.kind} data-state={a.state} data-alarm={problems.length > 0}>
      <td>
        <strong>{a.kind}</strong> <span className="muted small">{a.id}</span>
      </td>
      <td>
        <span className={`pill ${problems.length && !alarm ? 'bad' : statePill(a.state)}`}>{a.state}</span>
      </td>
      <td className="num">{duration(a.uptime_s)}</td>
      <td className="num">{a.restarts}</td>
      <td className="num">{a.mailbox ?? '–'}</td>
      <td className="small">
        {a.last_error && <div style={{ color: alarm ? 'var(--bad)' : 'var(--warn)' }}>{alarm ? a.last_error : `last error: ${a.last_error}`}</div>}
        {extra ? <div className="muted">{extra}</div> : null}
      </td>
      <td>
        {action && (
          <button className="ghost" style={{ minHeight: 28, padding: '2px 8px' }} onClick={action.run} aria-label={`${action.label} ${a.kind} ${a.id}`}>
            {action.label}
          </button>
        )}
      </td>
    </tr>
  );
}

function ActorTable({ rows }: { rows: Row[] }) {
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Actor</th>
            <th>State</th>
            <th>Uptime</th>
            <th>Restarts</th>
            <th>Mailbox</th>
            <th>Last error · details</th>
            <th>
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <ActorRow key={`${r.a.kind}/${r.a.id}`} {...r} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AdminInner() {
  const { tree, conn, error } = useHealthSocket();
  const [stopping, setStopping] = useState<string | null>(null);
  // Five minutes of every actor's figures, kept from the live updates for the sparklines.
  const [histories, setHistories] = useState<Map<string, History>>(() => new Map());
  useEffect(() => {
    if (tree) setHistories((h) => recordAll(h, tree, Date.now()));
  }, [tree]);
  const toast = useToast();
  const stop = async (slug: string) => {
    setStopping(null);
    try {
      await api<void>(`/admin/streams/${encodeURIComponent(slug)}/stop`, { method: 'POST' });
      toast.show(`Stream /${slug} stopped`, 'success');
    } catch (e) {
      toast.show(errorMessage(e), 'error');
    }
  };
  return (
    <div>
      <div className="row">
        <h1 className="grow">Actor health</h1>
        <Link to="/admin/users">Users</Link>
        <Link to="/admin/reports">Reports</Link>
        <Link to="/admin/audit">Audit log</Link>
        <Link to="/admin/dmca">DMCA</Link>
        <span className={`pill ${conn === 'open' ? 'ok' : conn === 'closed' ? 'bad' : 'warn'}`} role="status">
          {conn === 'open' ? 'live' : conn === 'closed' ? `disconnected${error ? `: ${error}` : ''}` : 'connecting'}
        </span>
      </div>
      {!tree ? (
        <Loading label="Connecting to the live tree" />
      ) : (
        <>
          <Observer tree={tree} histories={histories} />
          <h2>Chat ({plural(tree.chat?.rooms.length ?? 0, 'room')})</h2>
          {tree.chat ? <ActorTable rows={chatRows(tree)} /> : <p className="muted">Chat is not running.</p>}
          <h2>Notifier</h2>
          {tree.notifier ? <Notifier n={tree.notifier} /> : <p className="muted">The notifier is not running.</p>}
          {tree.pulls.length > 0 && <Pulls pulls={tree.pulls} />}
          <h2>Streams ({tree.streams.length})</h2>
          {tree.streams.length === 0 && <p className="muted">No stream is live on this node.</p>}
          {tree.streams.map((s) => {
            const problems = streamProblems(s);
            const notes = streamNotes(s);
            const i = s.ingest;
            return (
              <section key={s.slug} className={`tree-stream${problems.length ? ' unhealthy' : ''}`} aria-label={`Stream ${s.slug}`} data-slug={s.slug}>
                <header>
                  <strong>
                    <Link to={`/c/${s.slug}`}>/{s.slug}</Link>
                  </strong>
                  <span className="muted small">broadcast {s.broadcast_id}</span>
                  <StatusBadge status={s.status} actorState={s.actor.state} />
                  <span className={`pill ${problems.length ? 'bad' : notes.length ? 'warn' : 'ok'}`}>{problems.length ? 'failing' : notes.length ? 'needs a look' : 'healthy'}</span>
                  <span className="small">
                    {plural(s.viewers, 'viewer')} · {i ? `${Math.round(i.bitrate_kbps)} kb/s, ${i.fps.toFixed(0)} fps` : 'no ingest data'}
                    {i?.video ? `, ${i.video.width}×${i.video.height}` : ''}
                    {i?.keyframe_interval_s != null ? `, keyframes every ${i.keyframe_interval_s.toFixed(1)} s` : ''}
                    {' · '}transcoder {s.transcoder_state}
                    {s.transcoder_restarts ? `, ${plural(s.transcoder_restarts, 'restart')}` : ''}
                    {' · '}ffmpeg {s.ffmpeg_cpu_percent != null ? `${s.ffmpeg_cpu_percent.toFixed(0)}% CPU` : '–'}, speed{' '}
                    {s.ffmpeg_speed != null ? `${s.ffmpeg_speed.toFixed(2)}×` : '–'} · {s.segments_produced} segments · {s.dropped_frames} dropped frames
                  </span>
                  <span className="grow" />
                  <button className="danger" onClick={() => setStopping(s.slug)}>
                    Stop stream
                  </button>
                </header>
                {problems.length > 0 && (
                  <p className="warnings bad" role="alert">
                    {problems.join(' · ')}
                  </p>
                )}
                {s.transcoder_last_error && !problems.some((p) => p.includes(s.transcoder_last_error!)) && (
                  <p className="warnings">last transcoder error: {s.transcoder_last_error}</p>
                )}
                {notes.length > 0 && <p className="warnings">{notes.join(' · ')}</p>}
                {s.recording && (
                  <p className={`small${s.recording.state === 'store_unavailable' || s.recording.lost_segments > 0 ? ' warnings' : ' muted'}`} data-testid="recording">
                    {s.recording.dvr_only ? 'DVR copy' : 'recording'} <Link to={`/v/${s.recording.video_id}`}>{s.recording.video_id.slice(0, 8)}</Link>: {s.recording.state.replace('_', ' ')}
                    {' · '}
                    {s.recording.uploaded_segments} segments stored ({(s.recording.uploaded_bytes / 1e6).toFixed(1)} MB)
                    {' · '}
                    {s.recording.spooled_segments} waiting ({(s.recording.spooled_bytes / 1e6).toFixed(1)} MB)
                    {s.recording.upload_lag_p50_ms != null ? ` · upload lag p50 ${s.recording.upload_lag_p50_ms} ms, p99 ${s.recording.upload_lag_p99_ms} ms` : ''}
                    {s.recording.lost_segments > 0 ? ` · ${s.recording.lost_segments} lost` : ''}
                    {s.recording.last_error ? ` · last error: ${s.recording.last_error}` : ''}
                  </p>
                )}
                <ActorTable rows={[{ a: s.actor }, ...s.children.map((c) => ({ a: c }))]} />
              </section>
            );
          })}
        </>
      )}
      {stopping && (
        <Confirm title={`Stop /${stopping}?`} confirmLabel="Stop stream" danger onCancel={() => setStopping(null)} onConfirm={() => stop(stopping)}>
          <p>The broadcast ends now and the encoder is disconnected. Viewers see the channel as offline.</p>
        </Confirm>
      )}
    </div>
  );
}

/** The chat part of the tree: the directory and one row per room, with its traffic (actions are in the tree above). */
function chatRows(tree: HealthTree): Row[] {
  const chat = tree.chat;
  if (!chat) return [];
  return [
    { a: chat.directory, extra: chat.redis ? `Redis: ${chat.redis}` : undefined },
    ...chat.rooms.map((r) => ({
      a: r.actor,
      extra: `#${r.slug}: ${r.members} connected, ${r.messages} messages, ${r.pending} waiting to be stored, ${r.rejected} refused, ${r.slow_consumers_closed} slow clients closed`,
    })),
  ];
}

/** This node's camera pulls: their state, and why one is retrying or held. */
function Pulls({ pulls }: { pulls: HealthTree['pulls'] }) {
  return (
    <>
      <h2>Camera pulls ({pulls.length})</h2>
      <div className="table-wrap">
        <table aria-label="Camera pulls">
          <thead>
            <tr>
              <th scope="col">Channel</th>
              <th scope="col">State</th>
              <th scope="col">Since</th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {pulls.map((p) => {
              const bad = p.status.state === 'held' || p.status.state === 'retrying';
              return (
                <tr key={p.channel} className={bad ? 'unhealthy' : undefined} data-pull={p.channel}>
                  <td>
                    <Link to={`/c/${p.channel}`}>/{p.channel}</Link>
                  </td>
                  <td>
                    <span className={`pill ${p.status.state === 'held' ? 'bad' : p.status.state === 'live' ? 'ok' : 'warn'}`}>{p.status.state}</span>
                  </td>
                  <td className="small">{new Date(p.status.since).toLocaleString()}</td>
                  <td className="small">{p.status.last_error}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}

/** Go-live fan-out: the actor, its counters (sockets, email, webhooks) and the recent jobs. */
function Notifier({ n }: { n: NotifierHealth }) {
  const w = n.webhooks;
  const facts = [
    `${plural(n.sockets, 'socket')} open, ${n.pushed} pushed, ${n.kicked} slow sockets closed`,
    `${n.queued} jobs queued${n.dropped_jobs ? `, ${n.dropped_jobs} dropped` : ''}`,
    n.email ? `email: ${n.email.queued} queued, ${n.email.sent} sent, ${n.email.failed} failed` : 'email: not configured',
    `webhooks: ${w.pending} pending, ${w.delivered} delivered, ${w.failed} failed`,
    n.bus_redis_healthy === null ? null : `Redis bus ${n.bus_redis_healthy ? 'healthy' : 'unreachable'}`,
  ].filter(Boolean);
  const errors = [n.email?.last_error, w.last_error].filter(Boolean) as string[];
  return (
    <>
      <ActorTable rows={[{ a: n.actor, extra: facts.join(' · ') }]} />
      {(errors.length > 0 || n.bus_redis_healthy === false || n.dropped_jobs > 0) && <p className="warnings">{[...errors, n.bus_redis_healthy === false ? 'Redis bus unreachable: other nodes\' go-lives are not heard' : null, n.dropped_jobs ? `${n.dropped_jobs} jobs dropped` : null].filter(Boolean).join(' · ')}</p>}
      {n.jobs.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Recent fan-out jobs</caption>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Event</th>
                <th scope="col">State</th>
                <th scope="col">Followers done</th>
                <th scope="col">Notified · emailed</th>
                <th scope="col">Time</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {n.jobs.map((j) => (
                <tr key={`${j.broadcast_id}/${j.event}`} className={j.state === 'failed' ? 'unhealthy' : undefined}>
                  <td>
                    <Link to={`/c/${j.slug}`}>/{j.slug}</Link> <span className="muted small">broadcast {j.broadcast_id}</span>
                  </td>
                  <td>{j.event}</td>
                  <td>
                    <span className={`pill ${j.state === 'failed' ? 'bad' : j.state === 'done' ? 'ok' : 'warn'}`}>{j.state}</span>
                  </td>
                  <td className="num">
                    {j.done} / {j.total}
                  </td>
                  <td className="num">
                    {j.notified} · {j.emailed}
                  </td>
                  <td className="num">{duration(j.elapsed_s)}</td>
                  <td className="small" style={{ color: 'var(--bad)' }}>
                    {j.error}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
