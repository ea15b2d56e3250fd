import { behindLabel, driftSeconds, hasMedia, initialState, isBehind, reduce, retryDelayMs, showLatency, type PlayerEvent, type PlayerState } from './machine';

const run = (s: PlayerState, ...events: PlayerEvent[]) => events.reduce(reduce, s);
const status = (st: 'offline' | 'starting' | 'live' | 'failed', problem: string | null = null): PlayerEvent => ({ type: 'status', status: st, problem });

describe('player state machine', () => {
  it('starts in the phase of the channel status', () => {
    expect(initialState('offline', null).phase).toBe('offline');
    expect(initialState('starting', null).phase).toBe('starting');
    expect(initialState('live', null).phase).toBe('loading');
    const failed = initialState('failed', 'The stream is having technical problems.');
    expect(failed.phase).toBe('failed');
    expect(failed.problem).toBe('The stream is having technical problems.');
  });

  it('goes offline -> starting -> live -> playing, and loads the stream once live', () => {
    let s = initialState('offline', null);
    s = run(s, status('starting'));
    expect(s.phase).toBe('starting');
    expect(hasMedia(s)).toBe(false);
    const before = s.load;
    s = run(s, status('live'));
    expect(s.phase).toBe('loading');
    expect(s.load).toBe(before + 1);
    expect(hasMedia(s)).toBe(true);
    s = run(s, { type: 'playing' });
    expect(s.phase).toBe('playing');
    expect(s.played).toBe(true);
  });

  it('shows the problem while failed, follows a changed problem, and plays when it recovers', () => {
    let s = run(initialState('starting', null), status('failed', 'Problems A.'));
    expect(s).toMatchObject({ phase: 'failed', problem: 'Problems A.' });
    s = run(s, status('failed', 'Problems B.'));
    expect(s.problem).toBe('Problems B.');
    s = run(s, status('live'), { type: 'playing' });
    expect(s).toMatchObject({ phase: 'playing', problem: null });
  });

  it('stops the media when a live stream fails', () => {
    const s = run(initialState('live', null), { type: 'playing' }, status('failed', 'Broken.'));
    expect(s.phase).toBe('failed');
    expect(s.played).toBe(false);
    expect(hasMedia(s)).toBe(false);
  });

  it('ignores media events that arrive when there is no media', () => {
    const s = initialState('starting', null);
    expect(run(s, { type: 'playing' }, { type: 'network_error', message: 'x' }, { type: 'blocked' })).toBe(s);
  });

  it('ends when the stream goes offline while watching; offline otherwise', () => {
    expect(run(initialState('live', null), { type: 'playing' }, status('offline')).phase).toBe('ended');
    expect(run(initialState('live', null), { type: 'ended' }).phase).toBe('ended');
    // ended stays ended when the poll then says offline, and a new broadcast starts over.
    const ended = run(initialState('live', null), { type: 'ended' }, status('offline'));
    expect(ended.phase).toBe('ended');
    expect(run(ended, status('starting')).phase).toBe('starting');
    // The video ended while the channel is still live (its rendition was dropped): a fresh load.
    const dropped = run(initialState('live', null), { type: 'playing' }, { type: 'ended' }, status('live'));
    expect(dropped.phase).toBe('loading');
    expect(dropped.load).toBe(1);
    // A publisher that never produced video and left: offline, not "ended".
    expect(run(initialState('starting', null), status('offline')).phase).toBe('offline');
    expect(run(initialState('failed', 'x'), status('offline')).phase).toBe('offline');
  });

  it('counts network errors, retries with a fresh load, and resets on the first frame', () => {
    let s = run(initialState('live', null), { type: 'network_error', message: 'Could not load the video.' });
    expect(s).toMatchObject({ phase: 'network', attempt: 1, error: { message: 'Could not load the video.', source: 'media' } });
    const load = s.load;
    s = run(s, { type: 'retry' });
    expect(s).toMatchObject({ phase: 'loading', load: load + 1, error: null });
    s = run(s, { type: 'network_error', message: 'again' });
    expect(s.attempt).toBe(2);
    s = run(s, { type: 'retry' }, { type: 'playing' });
    expect(s).toMatchObject({ phase: 'playing', attempt: 0 });
  });

  it('a load that takes too long can be retried; starting and failed cannot', () => {
    const s = initialState('live', null);
    expect(run(s, { type: 'retry' })).toMatchObject({ phase: 'loading', load: s.load + 1 });
    const starting = initialState('starting', null);
    expect(run(starting, { type: 'retry' })).toBe(starting);
  });

  it('a failed channel poll interrupts only pages without playing video', () => {
    const playing = run(initialState('live', null), { type: 'playing' });
    expect(run(playing, { type: 'unreachable', message: 'Cannot reach the server.' })).toBe(playing);
    let s = run(initialState('starting', null), { type: 'unreachable', message: 'Cannot reach the server.' });
    expect(s).toMatchObject({ phase: 'network', error: { source: 'api' }, attempt: 1 });
    // Retry from an API error waits for the poll's answer.
    expect(run(s, { type: 'retry' })).toBe(s);
    s = run(s, { type: 'unreachable', message: 'Cannot reach the server.' });
    expect(s.attempt).toBe(2);
    s = run(s, { type: 'reachable' });
    expect(s).toMatchObject({ phase: 'starting', attempt: 0, error: null });
    // A poll that works again does not disturb a media error.
    const media = run(initialState('live', null), { type: 'network_error', message: 'm' });
    expect(run(media, { type: 'reachable' })).toBe(media);
  });

  it('buffering and blocked come from playing and loading only', () => {
    const playing = run(initialState('live', null), { type: 'playing' });
    expect(run(playing, { type: 'waiting' }).phase).toBe('buffering');
    expect(run(initialState('live', null), { type: 'waiting' }).phase).toBe('loading');
    expect(run(initialState('live', null), { type: 'blocked' }).phase).toBe('blocked');
    expect(run(playing, { type: 'blocked' }).phase).toBe('playing');
  });

  it('shows latency only once a frame played and a positive value is measured', () => {
    const loading = initialState('live', null);
    expect(showLatency(loading, 2.1)).toBe(false);
    const playing = run(loading, { type: 'playing' });
    expect(showLatency(playing, 0)).toBe(false);
    expect(showLatency(playing, null)).toBe(false);
    expect(showLatency(playing, 2.1)).toBe(true);
    // After a network error the next load has not played yet.
    expect(showLatency(run(playing, { type: 'network_error', message: 'x' }, { type: 'retry' }), 2.1)).toBe(false);
  });

  it('backs off 1, 2, 4, 8, 16 s, then every 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});

describe('distance to the live edge', () => {
  it('is the drift past the target latency, never negative', () => {
    // Edge at 100 s, target 2 s behind it: at 98 the player is where it should be.
    expect(driftSeconds(100, 98, 2)).toBe(0);
    expect(driftSeconds(100, 99, 2)).toBe(0);
    expect(driftSeconds(100, 94, 2)).toBe(4);
  });

  it('is behind past 3 target durations and stays so until below 2 (hysteresis)', () => {
    expect(isBehind(false, 3, 1)).toBe(false);
    expect(isBehind(false, 3.1, 1)).toBe(true);
    expect(isBehind(true, 2.5, 1)).toBe(true);
    expect(isBehind(true, 1.9, 1)).toBe(false);
    // Longer segments: 2 s target duration -> 6 s.
    expect(isBehind(false, 5, 2)).toBe(false);
    expect(isBehind(false, 6.5, 2)).toBe(true);
    // An unknown target duration counts as 1 s.
    expect(isBehind(false, 3.5, 0)).toBe(true);
  });

  it('grows a second per second while paused', () => {
    // Paused at 98 with the edge moving on from 100: behind after a bit more than 3 s.
    const at = (t: number) => driftSeconds(100 + t, 98, 2);
    let behind = false;
    const seen: number[] = [];
    for (let t = 0; t <= 5; t += 0.5) {
      behind = isBehind(behind, at(t), 1);
      if (behind) seen.push(t);
    }
    expect(seen[0]).toBe(3.5);
  });

  it('says how far behind in words', () => {
    expect(behindLabel(4.4)).toBe('4 s');
    expect(behindLabel(80)).toBe('1 min 20 s');
    expect(behindLabel(120)).toBe('2 min');
  });
});
