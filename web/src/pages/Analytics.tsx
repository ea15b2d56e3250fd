// /dashboard/:slug/analytics (owner or admin), in its own chunk with the charts: a range
// (24 h, 7 d, 30 d) of viewers and chat, and each broadcast's summary; ?broadcast=ID shows one.
import { useEffect, useMemo } from 'react';
import { Link, useParams, useSearchParams } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { ApiError, api } from '../api/client';
import type { AnalyticsSample } from '../api/generated/AnalyticsSample';
import type { BroadcastAnalytics } from '../api/generated/BroadcastAnalytics';
import type { BroadcastSummary } from '../api/generated/BroadcastSummary';
import type { ChannelAnalytics } from '../api/generated/ChannelAnalytics';
import { keys } from '../api/queries';
import { Chart } from '../charts/Chart';
import { RANGES, bucketLabel, bucketize, stats, type RangeKey } from '../charts/transform';
import { RequireAuth } from '../components/RequireAuth';
import { ErrorState, Loading, duration, formatCount } from '../components/States';

const MAX_POINTS = 240;

export default function Analytics() {
  return (
    <RequireAuth>
      <AnalyticsInner />
    </RequireAuth>
  );
}

function AnalyticsInner() {
  const { slug = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const range: RangeKey = (params.get('range') as RangeKey) in RANGES ? (params.get('range') as RangeKey) : '7d';
  const broadcast = Number(params.get('broadcast')) || null;
  const set = (next: { range?: RangeKey; broadcast?: number | null }) => {
    const p = new URLSearchParams(params);
    if (next.range) p.set('range', next.range);
    if (next.broadcast !== undefined) {
      if (next.broadcast === null) p.delete('broadcast');
      else p.set('broadcast', String(next.broadcast));
    }
    setParams(p);
  };
  useEffect(() => {
    document.title = `Analytics /${slug} · streamhall`;
    return () => {
      document.title = 'streamhall';
    };
  }, [slug]);
  return (
    <div className="analytics">
      <div className="row" style={{ marginBottom: 8 }}>
        <h1 className="grow" style={{ margin: 0 }}>
          Analytics <span className="muted">/{slug}</span>
        </h1>
        <Link className="button" to={`/dashboard?channel=${encodeURIComponent(slug)}`}>
          Dashboard
        </Link>
        <Link className="button" to={`/c/${encodeURIComponent(slug)}`}>
          View channel
        </Link>
      </div>
      {broadcast ? (
        <BroadcastView id={broadcast} onBack={() => set({ broadcast: null })} />
      ) : (
        <ChannelView slug={slug} range={range} onRange={(r) => set({ range: r })} onOpen={(id) => set({ broadcast: id })} />
      )}
    </div>
  );
}

const LABELS: Record<RangeKey, string> = { '24h': 'Last 24 hours', '7d': 'Last 7 days', '30d': 'Last 30 days' };

function ChannelView({ slug, range, onRange, onOpen }: { slug: string; range: RangeKey; onRange: (r: RangeKey) => void; onOpen: (id: number) => void }) {
  const q = useQuery({
    queryKey: keys.analytics(slug, range),
    queryFn: ({ signal }) => {
      const to = new Date();
      const from = new Date(to.getTime() - RANGES[range]);
      const p = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
      return api<ChannelAnalytics>(`/channels/${encodeURIComponent(slug)}/analytics?${p}`, { signal, auth: true });
    },
    refetchInterval: 60_000,
  });
  const a = q.data;
  return (
    <>
      <div className="chips" role="group" aria-label="Time range">
        {(Object.keys(RANGES) as RangeKey[]).map((r) => (
          <button key={r} className="chip" aria-pressed={r === range} onClick={() => onRange(r)}>
            {LABELS[r]}
          </button>
        ))}
      </div>
      {q.isPending ? (
        <Loading label="Loading analytics" />
      ) : q.isError ? (
        q.error instanceof ApiError && q.error.status === 403 ? (
          <div className="empty">
            <h2>Not your channel</h2>
            <p className="muted">Analytics are for the channel's owner and administrators.</p>
          </div>
        ) : (
          <ErrorState error={q.error} retry={() => q.refetch()} />
        )
      ) : a!.samples.length === 0 && a!.broadcasts.length === 0 ? (
        <>
          <ChannelTotals a={a!} />
          <div className="empty card" style={{ marginTop: 16 }}>
            <h2 style={{ marginTop: 0 }}>No data for this range yet</h2>
            <p className="muted">Viewers and chat are sampled every minute while you are live. Go live, then come back here.</p>
          </div>
        </>
      ) : (
        <>
          <ChannelTotals a={a!} />
          <Charts samples={a!.samples} from={Date.parse(a!.from)} to={Date.parse(a!.to)} />
          <h2>Broadcasts</h2>
          {a!.broadcasts.length === 0 ? <p className="muted">No broadcast in this range.</p> : <BroadcastTable rows={a!.broadcasts} onOpen={onOpen} />}
        </>
      )}
    </>
  );
}

const hours = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.round(s / 60)} min`);

function Stat({ k, v }: { k: string; v: string }) {
  return (
    <div className="stat">
      <div className="v">{v}</div>
      <div className="k">{k}</div>
    </div>
  );
}

function ChannelTotals({ a }: { a: ChannelAnalytics }) {
  const b = a.broadcasts;
  const peak = Math.max(0, ...b.map((x) => x.peak_viewers));
  const live = b.reduce((s, x) => s + x.duration_s, 0);
  const avg = live > 0 ? b.reduce((s, x) => s + x.avg_viewers * x.duration_s, 0) / live : 0;
  return (
    <div className="stats" data-testid="analytics-totals">
      <Stat k="Followers" v={formatCount(a.followers_total)} />
      <Stat k="New followers" v={`+${formatCount(a.new_followers)}`} />
      <Stat k="Broadcasts" v={String(b.length)} />
      <Stat k="Hours live" v={hours(live)} />
      <Stat k="Peak viewers" v={formatCount(peak)} />
      <Stat k="Average viewers" v={avg.toFixed(1)} />
      <Stat k="Watch time" v={hours(b.reduce((s, x) => s + x.watch_time_s, 0))} />
      <Stat k="Chat messages" v={formatCount(b.reduce((s, x) => s + x.chat_messages, 0))} />
    </div>
  );
}

/** Viewers, and chat (messages as bars, chatters as a line), on the same time axis. */
function Charts({ samples, from, to }: { samples: AnalyticsSample[]; from: number; to: number }) {
  const data = useMemo(() => {
    const at = samples.map((s) => ({ ...s, t: Date.parse(s.at) }));
    const opts = { from, to, maxPoints: MAX_POINTS };
    const viewers = bucketize(at.map((s) => ({ t: s.t, v: s.viewers })), { ...opts, agg: 'avg' });
    const messages = bucketize(at.map((s) => ({ t: s.t, v: s.chat_messages })), { ...opts, agg: 'sum' });
    const chatters = bucketize(at.map((s) => ({ t: s.t, v: s.chatters })), { ...opts, agg: 'max' });
    return { viewers, messages, chatters };
  }, [samples, from, to]);
  // Peaks and means of the samples themselves, not of the (averaged) buckets.
  const v = stats(samples.map((s) => ({ t: 0, v: s.viewers })));
  const m = samples.reduce((n, s) => n + s.chat_messages, 0);
  const c = stats(samples.map((s) => ({ t: 0, v: s.chatters })));
  const per = bucketLabel(data.viewers.bucketMs);
  const when = `${dateTime(new Date(from).toISOString())} to ${dateTime(new Date(to).toISOString())}`;
  return (
    <div className="chart-grid">
      <Chart
        title="Viewers"
        summary={`Average viewers per ${per} from ${when}: peak ${Math.round(v.peak)}, mean ${v.avg.toFixed(1)} while live.`}
        from={from}
        to={to}
        bucketMs={data.viewers.bucketMs}
        series={[{ name: 'Viewers', kind: 'area', points: data.viewers.points, color: 'var(--accent)' }]}
      />
      <Chart
        title="Chat activity"
        summary={`Chat messages per ${per} (bars) and chatters (line) from ${when}: ${m} messages, at most ${c.peak} chatters at once.`}
        from={from}
        to={to}
        bucketMs={data.messages.bucketMs}
        series={[
          { name: `Messages per ${per}`, kind: 'bar', points: data.messages.points, color: 'var(--ok)' },
          { name: 'Chatters', kind: 'line', points: data.chatters.points, color: 'var(--warn)' },
        ]}
      />
    </div>
  );
}

const dateTime = (iso: string) => new Date(iso).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

function BroadcastTable({ rows, onOpen }: { rows: BroadcastSummary[]; onOpen: (id: number) => void }) {
  return (
    <div className="table-wrap">
      <table className="broadcasts">
        <caption className="visually-hidden">Broadcasts in this range, newest first; open one for its charts</caption>
        <thead>
          <tr>
            <th scope="col">Broadcast</th>
            <th scope="col">Started</th>
            <th scope="col">Length</th>
            <th scope="col">Peak</th>
            <th scope="col">Average</th>
            <th scope="col">Unique viewers</th>
            <th scope="col">Watch time</th>
            <th scope="col">Chat messages</th>
            <th scope="col">Chatters</th>
            <th scope="col">New followers</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((b) => (
            <tr key={b.broadcast_id} className="clickable" onClick={() => onOpen(b.broadcast_id)}>
              <td>
                <button className="link-button" onClick={(e) => (e.stopPropagation(), onOpen(b.broadcast_id))}>
                  {b.title || `Broadcast ${b.broadcast_id}`}
                </button>
                {b.ended_at === null && <span className="live-badge" style={{ marginLeft: 6 }}>Live</span>}
              </td>
              <td>{dateTime(b.started_at)}</td>
              <td className="num">{duration(b.duration_s)}</td>
              <td className="num">{b.peak_viewers}</td>
              <td className="num">{b.avg_viewers.toFixed(1)}</td>
              <td className="num">{b.unique_viewers}</td>
              <td className="num">{hours(b.watch_time_s)}</td>
              <td className="num">{b.chat_messages}</td>
              <td className="num">{b.chatters}</td>
              <td className="num">{b.new_followers}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function BroadcastView({ id, onBack }: { id: number; onBack: () => void }) {
  const q = useQuery({
    queryKey: keys.broadcastAnalytics(id),
    queryFn: ({ signal }) => api<BroadcastAnalytics>(`/broadcasts/${id}/analytics`, { signal, auth: true }),
    refetchInterval: (query) => (query.state.data?.summary.ended_at === null ? 30_000 : false),
  });
  const back = (
    <button onClick={onBack} style={{ marginBottom: 12 }}>
      ← All broadcasts
    </button>
  );
  if (q.isPending)
    return (
      <>
        {back}
        <Loading label="Loading the broadcast" />
      </>
    );
  if (q.isError)
    return (
      <>
        {back}
        <ErrorState error={q.error} retry={() => q.refetch()} />
      </>
    );
  const { summary: s, samples } = q.data;
  const from = Date.parse(s.started_at);
  const lastSample = samples.length ? Math.max(...samples.map((x) => Date.parse(x.at))) : from;
  const to = s.ended_at ? Date.parse(s.ended_at) : Math.max(Date.now(), lastSample);
  return (
    <section aria-labelledby="broadcast-h">
      {back}
      <h2 id="broadcast-h" style={{ marginTop: 0 }}>
        {s.title || `Broadcast ${s.broadcast_id}`} {s.ended_at === null && <span className="live-badge">Live</span>}
      </h2>
      <p className="muted small">
        {dateTime(s.started_at)}
        {s.ended_at ? ` – ${dateTime(s.ended_at)}` : ', still live'} · {duration(s.duration_s)}
      </p>
      <div className="stats">
        <Stat k="Peak viewers" v={formatCount(s.peak_viewers)} />
        <Stat k="Average viewers" v={s.avg_viewers.toFixed(1)} />
        <Stat k="Unique viewers" v={formatCount(s.unique_viewers)} />
        <Stat k="Watch time" v={hours(s.watch_time_s)} />
        <Stat k="Average watch" v={duration(s.avg_watch_s)} />
        <Stat k="Chat messages" v={formatCount(s.chat_messages)} />
        <Stat k="Chatters" v={formatCount(s.chatters)} />
        <Stat k="New followers" v={`+${formatCount(s.new_followers)}`} />
      </div>
      {samples.length === 0 ? <p className="muted">No samples for this broadcast yet: they come once a minute while live.</p> : <Charts samples={samples} from={from} to={to} />}
    </section>
  );
}
