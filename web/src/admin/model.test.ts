import { actionsFor, emptyHistory, flatten, HISTORY_MS, keyOf, ms, nodeViews, record, recordAll, sparkline, toneOf, topN } from './model';
import type { HealthTree } from '../api/generated/HealthTree';
import type { ActorHealth } from '../api/generated/ActorHealth';
import type { ActorNode } from '../api/generated/ActorNode';

const actor = (kind: string, id: string, patch: Partial<ActorHealth> = {}): ActorHealth => ({
  kind,
  id,
  state: 'running',
  uptime_s: 1,
  restarts: 0,
  last_error: null,
  mailbox: 0,
  messages: 0,
  messages_per_s: 0,
  handling_p50_ms: null,
  handling_p99_ms: null,
  ...patch,
});

const node = (a: ActorHealth, children: ActorNode[] = [], figures: [string, number][] = []): ActorNode => ({
  actor: a,
  figures: figures.map(([name, value]) => ({ name, value })),
  children,
});

function tree(): ActorNode {
  return node(actor('registry', 'registry'), [
    node(actor('stream', 'a/1', { messages_per_s: 3 }), [node(actor('transcode', 'a/1/transcode', { state: 'restarting', restarts: 2, mailbox: null }))], [['cpu_percent', 80]]),
    node(actor('chat_directory', 'chat', { mailbox: 4 }), [node(actor('chat_room', 'room1', { mailbox: 40, messages_per_s: 9, handling_p99_ms: 2 }))]),
    node(actor('presence', 'presence', { state: 'idle', handling_p99_ms: 0.5 })),
    node(actor('notifier', 'notifier', { restarts: 1 })),
  ]);
}

describe('tones', () => {
  it('idle is rest, not an alarm; restarting and failed are alarms', () => {
    expect(toneOf('idle')).toBe('idle');
    expect(toneOf('stopped')).toBe('idle');
    expect(toneOf('running')).toBe('ok');
    expect(toneOf('live')).toBe('ok');
    expect(toneOf('grace')).toBe('passing');
    expect(toneOf('restarting')).toBe('alarm');
    expect(toneOf('failed')).toBe('alarm');
  });
});

describe('flatten', () => {
  it('walks depth first with depths and paths', () => {
    const rows = flatten(tree());
    expect(rows.map((r) => [r.key, r.depth])).toEqual([
      ['registry/registry', 0],
      ['stream/a/1', 1],
      ['transcode/a/1/transcode', 2],
      ['chat_directory/chat', 1],
      ['chat_room/room1', 2],
      ['presence/presence', 1],
      ['notifier/notifier', 1],
    ]);
    expect(rows[2].path).toEqual(['registry/registry', 'stream/a/1']);
  });

  it('a collapsed node hides its children but shows their worst state', () => {
    const rows = flatten(tree(), new Set(['stream/a/1']));
    expect(rows.some((r) => r.key === 'transcode/a/1/transcode')).toBe(false);
    const stream = rows.find((r) => r.key === 'stream/a/1')!;
    expect(stream.worst).toBe('alarm');
    expect(rows[0].worst).toBe('alarm');
    expect(rows.find((r) => r.key === 'presence/presence')!.worst).toBe('idle');
  });
});

describe('top N', () => {
  it('sorts by each column, highest first, unknowns last', () => {
    const t = tree();
    expect(topN(t, 'mailbox', 2).map((n) => n.actor.id)).toEqual(['room1', 'chat']);
    expect(topN(t, 'messages_per_s', 1)[0].actor.id).toBe('room1');
    expect(topN(t, 'restarts', 2).map((n) => n.actor.id)).toEqual(['a/1/transcode', 'notifier']);
    expect(topN(t, 'cpu', 1)[0].actor.id).toBe('a/1');
    expect(topN(t, 'handling_p99_ms', 2).map((n) => n.actor.id)).toEqual(['room1', 'presence']);
    expect(topN(t, 'mailbox', 7).at(-1)!.actor.id).toBe('a/1/transcode');
    expect(topN(t, 'mailbox', 1, false)[0].actor.id).toBe('a/1/transcode');
  });
});

describe('history', () => {
  it('keeps five minutes of points per actor and each new last error once', () => {
    let h = emptyHistory();
    const t = tree();
    h = record(h, t, 0);
    h = record(h, t, 1000);
    expect(h.series.get('chat_room/room1')!.map((p) => p.mailbox)).toEqual([40, 40]);
    expect(h.errors.size).toBe(0);
    const failing = node(actor('registry', 'registry'), [node(actor('presence', 'presence', { last_error: 'boom' }))]);
    h = record(h, failing, 2000);
    h = record(h, failing, 3000);
    expect(h.errors.get('presence/presence')).toEqual([{ t: 2000, error: 'boom' }]);
    h = record(h, failing, HISTORY_MS + 2500);
    // The room has not been seen for over five minutes: forgotten.
    expect(h.series.has('chat_room/room1')).toBe(false);
    expect(h.series.get('presence/presence')!.map((p) => p.t)).toEqual([3000, HISTORY_MS + 2500]);
  });
});

describe('sparkline', () => {
  it('draws the highest value at the top and needs two points', () => {
    expect(sparkline([1], 100, 20)).toBe('');
    expect(sparkline([0, 5, 10], 100, 20)).toBe('M0.0,20.0 L50.0,10.0 L100.0,0.0');
  });
});

describe('actions', () => {
  it('services restart, rooms restart or close, streams stop, leaves have none', () => {
    expect(actionsFor(actor('presence', 'presence')).map((a) => a.path)).toEqual(['/admin/actors/presence/restart']);
    expect(actionsFor(actor('chat_room', 'my room')).map((a) => a.path)).toEqual(['/admin/chat/my%20room/restart', '/admin/chat/my%20room/close']);
    expect(actionsFor(actor('stream', 'chan/42')).map((a) => a.path)).toEqual(['/admin/streams/chan/stop']);
    expect(actionsFor(actor('transcode', 'chan/42/transcode'))).toEqual([]);
    expect(keyOf(actor('stream', 'chan/42'))).toBe('stream/chan/42');
  });
});

describe('ms', () => {
  it('formats handling times', () => {
    expect(ms(null)).toBe('–');
    expect(ms(0.016)).toBe('16 µs');
    expect(ms(2.5)).toBe('2.5 ms');
    expect(ms(16.384)).toBe('16 ms');
    expect(ms(2048)).toBe('2.0 s');
  });
});

describe('several nodes', () => {
  const health = (others: string[]): HealthTree =>
    ({
      node: 'a',
      root: tree(),
      dead_letters: [{ kind: 'stream', count: 2 }],
      other_nodes: others.map((n) => ({ node: n, age_s: 1.5, root: node(actor('registry', 'registry', { mailbox: 7 })), dead_letters: [] })),
      other_nodes_error: null,
    }) as unknown as HealthTree;

  it('this node comes first and is the only one with actions', () => {
    const views = nodeViews(health(['b', 'c']));
    expect(views.map((v) => [v.node, v.here])).toEqual([
      ['a', true],
      ['b', false],
      ['c', false],
    ]);
    expect(views[1].root.actor.mailbox).toBe(7);
    expect(views[0].dead_letters[0].count).toBe(2);
  });

  it('each node keeps its own history, and a node gone is dropped', () => {
    let h = recordAll(new Map(), health(['b']), 0);
    h = recordAll(h, health(['b']), 1000);
    expect(h.get('a')?.series.get('registry/registry')?.length).toBe(2);
    expect(h.get('b')?.series.get('registry/registry')?.map((p) => p.mailbox)).toEqual([7, 7]);
    h = recordAll(h, health([]), 2000);
    expect([...h.keys()]).toEqual(['a']);
  });
});
