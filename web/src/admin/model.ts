// Pure helpers of the admin dashboard: the tree flattened for drawing and sorting, the
// five-minute history kept from the live updates, sparkline geometry and the actions an actor
// offers. Unit-tested in model.test.ts; the components only draw what these return.
import type { ActorHealth } from '../api/generated/ActorHealth';
import type { ActorNode } from '../api/generated/ActorNode';
import type { DeadLetterCount } from '../api/generated/DeadLetterCount';
import type { HealthTree } from '../api/generated/HealthTree';

/** A node's key, stable across updates: kind and id. */
export const keyOf = (a: ActorHealth) => `${a.kind}/${a.id}`;

export type Tone = 'ok' | 'passing' | 'alarm' | 'idle';

/**
 * The state colour. Running and live are green; starting, grace and ending pass (amber);
 * failed, restarting and unresponsive are alarms (red); idle and stopped are normal rest (grey,
 * never an alarm).
 */
export function toneOf(state: string): Tone {
  if (state === 'failed' || state === 'restarting' || state === 'unresponsive' || state === 'degraded') return 'alarm';
  if (state === 'starting' || state === 'grace' || state === 'ending') return 'passing';
  if (state === 'idle' || state === 'stopped') return 'idle';
  return 'ok';
}

export type Row = {
  key: string;
  depth: number;
  node: ActorNode;
  /** Keys of the ancestors, root first. */
  path: string[];
  /** The worst tone in this node's subtree (a collapsed parent shows a failing child). */
  worst: Tone;
};

const rank: Record<Tone, number> = { idle: 0, ok: 1, passing: 2, alarm: 3 };

/** Every node in drawing order (depth first), skipping the children of collapsed keys. */
export function flatten(root: ActorNode, collapsed: ReadonlySet<string> = new Set()): Row[] {
  const out: Row[] = [];
  const walk = (n: ActorNode, depth: number, path: string[]): Tone => {
    const key = keyOf(n.actor);
    const row: Row = { key, depth, node: n, path, worst: toneOf(n.actor.state) };
    out.push(row);
    let worst = row.worst;
    if (!collapsed.has(key)) {
      for (const c of n.children) {
        const t = walk(c, depth + 1, [...path, key]);
        if (rank[t] > rank[worst]) worst = t;
      }
    } else {
      const t = subtreeWorst(n);
      if (rank[t] > rank[worst]) worst = t;
    }
    row.worst = worst;
    return worst;
  };
  walk(root, 0, []);
  return out;
}

function subtreeWorst(n: ActorNode): Tone {
  let worst = toneOf(n.actor.state);
  for (const c of n.children) {
    const t = subtreeWorst(c);
    if (rank[t] > rank[worst]) worst = t;
  }
  return worst;
}

/** The figure of a node by name (`cpu_percent`, `members` ...). */
export const figure = (n: ActorNode, name: string): number | null => n.figures.find((f) => f.name === name)?.value ?? null;

export type SortKey = 'mailbox' | 'messages_per_s' | 'handling_p99_ms' | 'restarts' | 'cpu';

export const SORT_LABELS: Record<SortKey, string> = {
  mailbox: 'Mailbox',
  messages_per_s: 'Messages/s',
  handling_p99_ms: 'Handling p99',
  restarts: 'Restarts',
  cpu: 'CPU',
};

export function sortValue(n: ActorNode, by: SortKey): number {
  const a = n.actor;
  switch (by) {
    case 'mailbox':
      return a.mailbox ?? -1;
    case 'messages_per_s':
      return a.messages_per_s;
    case 'handling_p99_ms':
      return a.handling_p99_ms ?? -1;
    case 'restarts':
      return a.restarts;
    case 'cpu':
      return figure(n, 'cpu_percent') ?? -1;
  }
}

/** The top `n` actors by `by`, highest first (ties by key, so the order is stable). */
export function topN(root: ActorNode, by: SortKey, n: number, descending = true): ActorNode[] {
  const all = flatten(root).map((r) => r.node);
  const dir = descending ? -1 : 1;
  return all
    .sort((x, y) => {
      const d = sortValue(x, by) - sortValue(y, by);
      return d !== 0 ? d * dir : keyOf(x.actor).localeCompare(keyOf(y.actor));
    })
    .slice(0, n);
}

/** What the dashboard keeps per actor: a point per update, for five minutes. */
export type Sample = { t: number; mailbox: number; rate: number; p99: number; cpu: number | null };
export type History = {
  series: Map<string, Sample[]>;
  /** Last errors per actor, newest last, each once. */
  errors: Map<string, { t: number; error: string }[]>;
};

export const HISTORY_MS = 5 * 60 * 1000;
export const MAX_ERRORS = 10;

export const emptyHistory = (): History => ({ series: new Map(), errors: new Map() });

/** Adds one update to the history (a new object; the maps are copied). Drops what is older than five minutes and actors gone that long. */
export function record(h: History, root: ActorNode, now: number): History {
  const series = new Map(h.series);
  const errors = new Map(h.errors);
  for (const { key, node } of flatten(root)) {
    const a = node.actor;
    const s = [...(series.get(key) ?? []), { t: now, mailbox: a.mailbox ?? 0, rate: a.messages_per_s, p99: a.handling_p99_ms ?? 0, cpu: figure(node, 'cpu_percent') }];
    series.set(key, s);
    if (a.last_error) {
      const e = errors.get(key) ?? [];
      if (e.length === 0 || e[e.length - 1].error !== a.last_error) errors.set(key, [...e, { t: now, error: a.last_error }].slice(-MAX_ERRORS));
    }
  }
  for (const [key, s] of series) {
    const kept = s.filter((p) => now - p.t <= HISTORY_MS);
    if (kept.length === 0) {
      series.delete(key);
      errors.delete(key);
    } else series.set(key, kept);
  }
  return { series, errors };
}

/**
 * One server's tree as the page shows it: this node's (live, with actions) or another node's
 * (as it last wrote it, a few seconds old, read-only: actions belong to the node that runs the
 * actor).
 */
export type NodeView = { node: string; here: boolean; age_s: number; root: ActorNode; dead_letters: DeadLetterCount[] };

/** This node first, then the others by name. */
export function nodeViews(tree: HealthTree): NodeView[] {
  return [
    { node: tree.node, here: true, age_s: 0, root: tree.root, dead_letters: tree.dead_letters },
    ...tree.other_nodes.map((o) => ({ node: o.node, here: false, age_s: o.age_s, root: o.root, dead_letters: o.dead_letters })),
  ];
}

/** Adds one update to every node's own history; nodes no longer reported are dropped. */
export function recordAll(h: ReadonlyMap<string, History>, tree: HealthTree, now: number): Map<string, History> {
  const out = new Map<string, History>();
  for (const v of nodeViews(tree)) out.set(v.node, record(h.get(v.node) ?? emptyHistory(), v.root, now));
  return out;
}

/** An SVG path through `values` in a `w`×`h` box (the highest value at the top); empty below two points. */
export function sparkline(values: number[], w: number, h: number): string {
  if (values.length < 2) return '';
  const max = Math.max(...values, 1e-9);
  const step = w / (values.length - 1);
  return values
    .map((v, i) => {
      const x = i * step;
      const y = h - (Math.max(0, v) / max) * h;
      return `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
}

export type Action = {
  /** What the button says. */
  label: string;
  /** The confirmation dialog's title and text. */
  title: string;
  body: string;
  /** POST path below /api/v1. */
  path: string;
  danger: boolean;
};

const SERVICES: Record<string, string> = {
  chat_directory: 'Its rooms stop and their viewers rejoin fresh rooms, which reload recent messages.',
  presence: 'Viewer counts are kept in memory and resume; analytics sessions in progress start again.',
  notifier: 'Waiting and running go-live fan-outs carry on with the next notifier.',
};

/** The actions an actor offers, each needing confirmation. */
export function actionsFor(a: ActorHealth): Action[] {
  if (a.kind in SERVICES) {
    return [{ label: 'Restart', title: `Restart ${a.kind.replace('_', ' ')}?`, body: SERVICES[a.kind], path: `/admin/actors/${a.kind}/restart`, danger: false }];
  }
  if (a.kind === 'chat_room') {
    const slug = encodeURIComponent(a.id);
    return [
      { label: 'Restart', title: `Restart chat room #${a.id}?`, body: 'Its viewers rejoin a fresh room and resume after the last message they had. Counted as a restart.', path: `/admin/chat/${slug}/restart`, danger: false },
      { label: 'Close', title: `Close chat room #${a.id}?`, body: 'The room stops on this node; viewers still connected rejoin, which opens it again.', path: `/admin/chat/${slug}/close`, danger: true },
    ];
  }
  if (a.kind === 'stream') {
    const slug = a.id.split('/')[0];
    return [{ label: 'Stop stream', title: `Stop /${slug}?`, body: 'The broadcast ends now and the encoder is disconnected. Viewers see the channel as offline.', path: `/admin/streams/${encodeURIComponent(slug)}/stop`, danger: true }];
  }
  return [];
}

/** Milliseconds as people read them. */
export function ms(v: number | null | undefined): string {
  if (v == null) return '–';
  return v < 1 ? `${(v * 1000).toFixed(0)} µs` : v < 1000 ? `${v.toFixed(v < 10 ? 1 : 0)} ms` : `${(v / 1000).toFixed(1)} s`;
}
