import { actorTone, recordingWords, renditionWords, statusBadge, transcoderWords } from './streamState';
import { actorNotes, actorProblems, streamNotes, streamProblems } from '../pages/Admin';
import { healthWarnings } from '../pages/Dashboard';
import type { StreamHealth } from '../api/generated/StreamHealth';
import type { ActorHealth } from '../api/generated/ActorHealth';

const actor = (kind: string, state: string, last_error: string | null = null): ActorHealth => ({ kind, id: '1', state, uptime_s: 10, restarts: 0, last_error, mailbox: null, messages: 0, messages_per_s: 0, handling_p50_ms: null, handling_p99_ms: null });

function stream(patch: Partial<StreamHealth> = {}): StreamHealth {
  return {
    actor: actor('stream', 'live'),
    channel_id: 1,
    slug: 's',
    broadcast_id: 1,
    status: 'live',
    problem: null,
    publisher_connected: true,
    protocol: null,
    ingest: null,
    warnings: [],
    transcoder_state: 'running',
    transcoder_restarts: 0,
    transcoder_last_error: null,
    ffmpeg_pid: 1,
    ffmpeg_cpu_percent: 50,
    ffmpeg_speed: 1.0,
    segments_produced: 10,
    segments_lost: 0,
    dropped_frames: 0,
    dropped_audio: 0,
    queued: 0,
    renditions: [],
    recording: null,
    viewers: 0,
    restreams: [],
    children: [actor('ingest', 'running'), actor('transcode', 'running'), actor('segment', 'running'), actor('thumbnail', 'idle')],
    ...patch,
  };
}

describe('recording words', () => {
  it('says whether the broadcast is recorded, kept for rewinding only, or waiting for the store', () => {
    expect(recordingWords('recording', false)).toEqual({ text: 'Recording' });
    expect(recordingWords('recording', true).text).toMatch(/rewinding only/);
    expect(recordingWords('store_unavailable', false)).toMatchObject({ tone: 'warn' });
    expect(recordingWords('finishing', false).text).toBe('Finishing the video');
  });
});

describe('stream badges', () => {
  it('says Live only when viewers can watch', () => {
    expect(statusBadge('live').label).toBe('Live');
    expect(statusBadge('starting').label).toBe('Starting…');
    expect(statusBadge('failed')).toMatchObject({ label: 'Failed', tone: 'bad' });
    expect(statusBadge('offline').tone).toBe('muted');
    // The encoder left: Grace, whatever the status was.
    expect(statusBadge('live', 'grace').label).toBe('Grace');
  });

  it('names transcoder and rendition states in words', () => {
    expect(transcoderWords('failed')).toEqual({ text: 'Failing again and again', tone: 'bad' });
    expect(transcoderWords('restarting').tone).toBe('warn');
    expect(transcoderWords('running').tone).toBeUndefined();
    expect(renditionWords('dropped').tone).toBe('warn');
    expect(renditionWords('failed').tone).toBe('bad');
  });
});

describe('the admin tree', () => {
  it('draws failed and restarting as alarms, idle and stopped as normal', () => {
    expect(actorTone('failed')).toBe('alarm');
    expect(actorTone('restarting')).toBe('alarm');
    for (const s of ['running', 'live', 'idle', 'stopped']) expect(actorTone(s)).toBe('normal');
    for (const s of ['starting', 'grace', 'ending']) expect(actorTone(s)).toBe('passing');
    expect(actorProblems(actor('thumbnail', 'idle'))).toEqual([]);
    expect(actorProblems(actor('thumbnail', 'stopped'))).toEqual([]);
    expect(actorProblems(actor('transcode', 'restarting', 'ffmpeg exited with code 1'))).toEqual(['restarting: ffmpeg exited with code 1']);
  });

  it('keeps a recovered error as a note, not an alarm', () => {
    const a = actor('transcode', 'running', 'ffmpeg exited with code 1');
    expect(actorProblems(a)).toEqual([]);
    expect(actorNotes(a)).toEqual(['last error: ffmpeg exited with code 1']);
  });

  it('a healthy stream with an idle thumbnail child has no alarms', () => {
    expect(streamProblems(stream())).toEqual([]);
    expect(streamNotes(stream())).toEqual([]);
  });

  it('says which protocol feeds the stream', () => {
    expect(streamNotes(stream({ protocol: 'srt' }))).toEqual(['in over SRT']);
    expect(streamNotes(stream({ protocol: 'rtsp' }))).toEqual(['in over RTSP']);
  });

  it('a failed stream is an alarm with its problem and failing child', () => {
    const s = stream({
      status: 'failed',
      actor: actor('stream', 'failed', 'Viewers cannot see your stream: the transcoder keeps failing: ffmpeg exited with code 1'),
      problem: 'Viewers cannot see your stream: the transcoder keeps failing: ffmpeg exited with code 1',
      children: [actor('transcode', 'failed', 'ffmpeg exited with code 1')],
    });
    expect(streamProblems(s)).toEqual([
      'Viewers cannot see your stream: the transcoder keeps failing: ffmpeg exited with code 1',
      'transcode: failed: ffmpeg exited with code 1',
    ]);
  });

  it('starting is a note, not an alarm', () => {
    const s = stream({ status: 'starting', actor: actor('stream', 'starting'), problem: 'Viewers cannot see your stream yet: waiting for the first video (3 s)' });
    expect(streamProblems(s)).toEqual([]);
    expect(streamNotes(s)).toEqual(['Viewers cannot see your stream yet: waiting for the first video (3 s)']);
  });
});

describe('dashboard warnings', () => {
  it('adds the slow transcoder before the server does, once', () => {
    expect(healthWarnings({ warnings: [], ffmpeg_speed: 1.02 })).toEqual([]);
    expect(healthWarnings({ warnings: [], ffmpeg_speed: 0.82 })).toEqual(['Transcoder speed 0.82×: the server cannot keep up; viewers will fall behind.']);
    const server = 'The server cannot keep up (speed 0.82x for 10 s); viewers will fall behind.';
    expect(healthWarnings({ warnings: [server], ffmpeg_speed: 0.82 })).toEqual([server]);
  });
});
