// The observer part of the admin page: the live supervision tree (collapsible, coloured by
// state), the top-N table, one actor's detail with five-minute sparklines and its last errors,
// dead letters, and actions behind a confirmation dialog. Modelled on Erlang's observer.
import { useMemo, useState } from 'react';
import { api, errorMessage } from '../api/client';
import type { ActorNode } from '../api/generated/ActorNode';
import type { HealthTree } from '../api/generated/HealthTree';
import { Confirm, duration } from '../components/States';
import { useToast } from '../components/Toasts';
import { type Action, type History, type SortKey, SORT_LABELS, actionsFor, emptyHistory, figure, flatten, keyOf, ms, nodeViews, sparkline, toneOf, topN } from './model';

const TONE_PILL = { ok: 'ok', passing: 'warn', alarm: 'bad', idle: '' } as const;

function StatePill({ state }: { state: string }) {
  return <span className={`pill ${TONE_PILL[toneOf(state)]}`}>{state}</span>;
}

export function Observer({ tree, histories }: { tree: HealthTree; histories: ReadonlyMap<string, History> }) {
  const [collapsed, setCollapsed] = useState<Set<string>>(() => new Set());
  const [selected, setSelected] = useState<string | null>(null);
  const [pending, setPending] = useState<Action | null>(null);
  const [nodeName, setNodeName] = useState<string | null>(null);
  const toast = useToast();
  const views = useMemo(() => nodeViews(tree), [tree]);
  const view = views.find((v) => v.node === nodeName) ?? views[0];
  const history = histories.get(view.node) ?? emptyHistory();
  const rows = useMemo(() => flatten(view.root, collapsed), [view, collapsed]);
  const selectedNode = useMemo(() => (selected ? flatten(view.root).find((r) => r.key === selected)?.node ?? null : null), [view, selected]);
  const pick = (node: string) => {
    setNodeName(node);
    setSelected(null);
  };
  const toggle = (key: string) =>
    setCollapsed((c) => {
      const next = new Set(c);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  const run = async (a: Action) => {
    setPending(null);
    try {
      await api<void>(a.path, { method: 'POST' });
      toast.show(`${a.label}: done`, 'success');
    } catch (e) {
      toast.show(errorMessage(e), 'error');
    }
  };
  return (
    <>
      {views.length > 1 ? (
        <div className="row" role="tablist" aria-label="Nodes" data-testid="nodes">
          {views.map((v) => (
            <button key={v.node} role="tab" aria-selected={v.node === view.node} className={v.node === view.node ? '' : 'ghost'} onClick={() => pick(v.node)}>
              {v.node}
              <span className="muted small">{v.here ? ' (this node)' : ` (${v.age_s.toFixed(0)} s ago)`}</span>
            </button>
          ))}
        </div>
      ) : null}
      <p className="muted small" data-testid="node">
        {view.here ? (
          <>
            Node <strong>{view.node}</strong>: live, with actions.
          </>
        ) : (
          <>
            Node <strong>{view.node}</strong>, as it wrote its tree {view.age_s.toFixed(0)} s ago. Actions belong to the node that runs the actor: open its own admin page to act.
          </>
        )}
      </p>
      {tree.other_nodes_error && (
        <p className="error small" role="alert">
          The other nodes' trees cannot be read: {tree.other_nodes_error}
        </p>
      )}
      <h2>Supervision tree</h2>
      <div className="table-wrap">
        <table aria-label="Supervision tree" data-testid="tree">
          <thead>
            <tr>
              <th scope="col">Actor</th>
              <th scope="col">State</th>
              <th scope="col">Uptime</th>
              <th scope="col">Restarts</th>
              <th scope="col">Mailbox</th>
              <th scope="col">Msg/s</th>
              <th scope="col">p50 · p99</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ key, depth, node, worst }) => {
              const a = node.actor;
              const open = !collapsed.has(key);
              return (
                <tr key={key} data-key={key} data-kind={a.kind} data-state={a.state} data-tone={worst} className={worst === 'alarm' ? 'unhealthy' : undefined} aria-selected={selected === key}>
                  <td style={{ paddingLeft: 8 + depth * 18 }}>
                    {node.children.length > 0 ? (
                      <button className="ghost" style={{ minHeight: 24, padding: '0 6px' }} aria-expanded={open} aria-label={`${open ? 'Collapse' : 'Expand'} ${a.kind} ${a.id}`} onClick={() => toggle(key)}>
                        {open ? '▾' : '▸'}
                      </button>
                    ) : (
                      <span style={{ display: 'inline-block', width: 26 }} />
                    )}{' '}
                    <button className="link-button" onClick={() => setSelected(key)} aria-label={`Details of ${a.kind} ${a.id}`}>
                      <strong>{a.kind}</strong> <span className="muted small">{a.id}</span>
                    </button>
                    {!open && <span className="muted small"> ({node.children.length})</span>}
                  </td>
                  <td>
                    <StatePill state={a.state} />
                  </td>
                  <td className="num">{duration(a.uptime_s)}</td>
                  <td className="num">{a.restarts}</td>
                  <td className="num">{a.mailbox ?? '–'}</td>
                  <td className="num">{a.messages_per_s.toFixed(1)}</td>
                  <td className="num">
                    {ms(a.handling_p50_ms)} · {ms(a.handling_p99_ms)}
                  </td>
                  <td>
                    {(view.here ? actionsFor(a) : []).map((act) => (
                      <button key={act.label} className={act.danger ? 'danger' : 'ghost'} style={{ minHeight: 28, padding: '2px 8px', marginRight: 4 }} onClick={() => setPending(act)} aria-label={`${act.label} ${a.kind} ${a.id}`}>
                        {act.label}
                      </button>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {selectedNode && <Detail node={selectedNode} history={history} onClose={() => setSelected(null)} />}
      <TopTable root={view.root} onSelect={setSelected} />
      <h2>Dead letters</h2>
      {view.dead_letters.length === 0 ? (
        <p className="muted" data-testid="dead-letters">
          None: every message reached a running actor.
        </p>
      ) : (
        <ul data-testid="dead-letters">
          {view.dead_letters.map((d) => (
            <li key={d.kind}>
              <strong>{d.kind}</strong>: {d.count} undeliverable (actor stopped or mailbox full)
            </li>
          ))}
        </ul>
      )}
      {pending && (
        <Confirm title={pending.title} confirmLabel={pending.label} danger={pending.danger} onCancel={() => setPending(null)} onConfirm={() => run(pending)}>
          <p>{pending.body}</p>
        </Confirm>
      )}
    </>
  );
}

const SORTS: SortKey[] = ['mailbox', 'messages_per_s', 'handling_p99_ms', 'restarts', 'cpu'];

function TopTable({ root, onSelect }: { root: ActorNode; onSelect: (key: string) => void }) {
  const [by, setBy] = useState<SortKey>('mailbox');
  const [desc, setDesc] = useState(true);
  const [n, setN] = useState(10);
  const top = topN(root, by, n, desc);
  const sortBy = (k: SortKey) => {
    if (k === by) setDesc(!desc);
    else {
      setBy(k);
      setDesc(true);
    }
  };
  return (
    <>
      <div className="row">
        <h2 className="grow">Top {n}</h2>
        <label className="small">
          Show{' '}
          <select value={n} onChange={(e) => setN(Number(e.target.value))} aria-label="How many actors">
            {[5, 10, 25, 100].map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className="table-wrap">
        <table aria-label="Top actors" data-testid="top">
          <thead>
            <tr>
              <th scope="col">Actor</th>
              {SORTS.map((k) => (
                <th key={k} scope="col" aria-sort={k === by ? (desc ? 'descending' : 'ascending') : 'none'}>
                  <button className="link-button" onClick={() => sortBy(k)}>
                    {SORT_LABELS[k]}
                    {k === by ? (desc ? ' ↓' : ' ↑') : ''}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {top.map((node) => {
              const a = node.actor;
              const cpu = figure(node, 'cpu_percent');
              return (
                <tr key={keyOf(a)} data-key={keyOf(a)}>
                  <td>
                    <button className="link-button" onClick={() => onSelect(keyOf(a))}>
                      <strong>{a.kind}</strong> <span className="muted small">{a.id}</span>
                    </button>{' '}
                    <StatePill state={a.state} />
                  </td>
                  <td className="num" data-col="mailbox">
                    {a.mailbox ?? '–'}
                  </td>
                  <td className="num" data-col="messages_per_s">
                    {a.messages_per_s.toFixed(1)}
                  </td>
                  <td className="num" data-col="handling_p99_ms">
                    {ms(a.handling_p99_ms)}
                  </td>
                  <td className="num" data-col="restarts">
                    {a.restarts}
                  </td>
                  <td className="num" data-col="cpu">
                    {cpu == null ? '–' : `${cpu.toFixed(0)}%`}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Spark({ label, values, unit }: { label: string; values: number[]; unit: string }) {
  const w = 160;
  const h = 32;
  const last = values.at(-1);
  return (
    <figure style={{ margin: 0 }}>
      <svg width={w} height={h} role="img" aria-label={`${label}, last 5 minutes${last == null ? '' : `, now ${last.toFixed(1)} ${unit}`}`}>
        <path d={sparkline(values, w, h - 2)} fill="none" stroke="currentColor" strokeWidth={1.5} />
      </svg>
      <figcaption className="small muted">
        {label}: {last == null ? '–' : `${last.toFixed(1)} ${unit}`}
      </figcaption>
    </figure>
  );
}

function Detail({ node, history, onClose }: { node: ActorNode; history: History; onClose: () => void }) {
  const a = node.actor;
  const key = keyOf(a);
  const points = history.series.get(key) ?? [];
  const errors = history.errors.get(key) ?? [];
  const cpu = points.map((p) => p.cpu).filter((c): c is number => c != null);
  return (
    <section aria-label={`Details of ${a.kind} ${a.id}`} className="tree-stream" data-testid="detail">
      <header>
        <strong>{a.kind}</strong> <span className="muted small">{a.id}</span> <StatePill state={a.state} />
        <span className="small">
          up {duration(a.uptime_s)} · {a.restarts} restarts · {a.messages} messages handled
        </span>
        <span className="grow" />
        <button className="ghost" onClick={onClose}>
          Close
        </button>
      </header>
      <div className="row" style={{ gap: 24, flexWrap: 'wrap' }}>
        <Spark label="Mailbox" values={points.map((p) => p.mailbox)} unit="msgs" />
        <Spark label="Messages/s" values={points.map((p) => p.rate)} unit="/s" />
        <Spark label="Handling p99" values={points.map((p) => p.p99)} unit="ms" />
        {cpu.length > 0 && <Spark label="CPU" values={cpu} unit="%" />}
      </div>
      {node.figures.length > 0 && (
        <p className="small">
          {node.figures.map((f) => `${f.name.replace(/_/g, ' ')} ${Number.isInteger(f.value) ? f.value : f.value.toFixed(2)}`).join(' · ')}
        </p>
      )}
      <h3>Last errors</h3>
      {errors.length === 0 ? (
        <p className="muted small">None seen since this page opened.</p>
      ) : (
        <ul className="small">
          {errors
            .slice()
            .reverse()
            .map((e) => (
              <li key={`${e.t}/${e.error}`}>
                <time dateTime={new Date(e.t).toISOString()}>{new Date(e.t).toLocaleTimeString()}</time>: {e.error}
              </li>
            ))}
        </ul>
      )}
    </section>
  );
}
