// Stream and actor states in words and colours, shared by the creator dashboard and the
// admin tree: one place decides what is normal, what needs attention and what is an alarm.
import type { RenditionState } from '../api/generated/RenditionState';
import type { StreamStatus } from '../api/generated/StreamStatus';

export type Tone = 'live' | 'ok' | 'warn' | 'bad' | 'muted';

/**
 * The badge beside a stream: a LIVE badge only when viewers can watch; the stream actor's
 * `grace` (encoder gone, waiting for it) wins over the status it had.
 */
export function statusBadge(status: StreamStatus, actorState?: string | null): { label: string; tone: Tone; title: string } {
  if (actorState === 'grace') return { label: 'Grace', tone: 'warn', title: 'The encoder disconnected: the stream waits for it to reconnect' };
  if (actorState === 'ending') return { label: 'Ending', tone: 'muted', title: 'The broadcast is ending' };
  switch (status) {
    case 'live':
      return { label: 'Live', tone: 'live', title: 'Viewers can watch' };
    case 'starting':
      return { label: 'Starting…', tone: 'warn', title: 'Connected; waiting for the first video' };
    case 'failed':
      return { label: 'Failed', tone: 'bad', title: 'Viewers cannot see the stream' };
    case 'offline':
      return { label: 'Offline', tone: 'muted', title: 'Not streaming' };
  }
  // A state this build does not know (a newer server): say it as it is, without colour.
  return { label: String(status), tone: 'muted', title: '' };
}

export function StatusBadge({ status, actorState }: { status: StreamStatus; actorState?: string | null }) {
  const b = statusBadge(status, actorState);
  return (
    <span className={b.tone === 'live' ? 'live-badge' : `pill ${b.tone === 'muted' ? '' : b.tone}`} title={b.title} data-status={status}>
      {b.label}
    </span>
  );
}

/** The transcoder's state for the streamer, in plain words, and how worrying it is. */
export function transcoderWords(state: string): { text: string; tone?: 'warn' | 'bad' } {
  switch (state) {
    case 'waiting':
      return { text: 'Waiting for your encoder’s video' };
    case 'starting':
      return { text: 'Starting' };
    case 'running':
      return { text: 'Running' };
    case 'restarting':
      return { text: 'Restarting after a failure', tone: 'warn' };
    case 'failed':
      return { text: 'Failing again and again', tone: 'bad' };
    case 'stopped':
      return { text: 'Stopped' };
    default:
      return { text: state };
  }
}

/** The recording's state for the streamer (`RecordingHealth.state`), in plain words. */
export function recordingWords(state: string, dvrOnly: boolean): { text: string; tone?: 'warn' | 'bad' } {
  switch (state) {
    case 'recording':
      return { text: dvrOnly ? 'Kept for rewinding only (recording is off)' : 'Recording' };
    case 'store_unavailable':
      return { text: 'Storage unreachable: new video waits on the server and is uploaded when it is back', tone: 'warn' };
    case 'finishing':
      return { text: 'Finishing the video' };
    default:
      return { text: state };
  }
}

/** How a rendition chip reads and looks. */
export function renditionWords(state: RenditionState): { text: string; tone: Tone } {
  switch (state) {
    case 'waiting':
      return { text: 'waiting', tone: 'muted' };
    case 'ok':
      return { text: 'ok', tone: 'ok' };
    case 'failed':
      return { text: 'failed', tone: 'bad' };
    case 'dropped':
      return { text: 'dropped', tone: 'warn' };
  }
}

/** A camera pull's state (`ChannelIngest.pull_state`) for the streamer; on demand, idle is normal. */
export function pullWords(state: string, alwaysOn: boolean): { text: string; tone: Tone } {
  switch (state) {
    case 'idle':
      return alwaysOn ? { text: 'Not pulling yet', tone: 'muted' } : { text: 'Idle: pulls when someone watches', tone: 'muted' };
    case 'connecting':
      return { text: 'Connecting to the camera', tone: 'warn' };
    case 'live':
      return { text: 'Pulling', tone: 'ok' };
    case 'retrying':
      return { text: 'Lost the camera: retrying', tone: 'warn' };
    case 'held':
      return { text: 'Stopped: your account may not stream now', tone: 'bad' };
    case 'failed':
      return { text: 'Failed', tone: 'bad' };
    default:
      return { text: state, tone: 'muted' };
  }
}

/** A restream destination's state (`RestreamDto.state`) for the streamer. */
export function restreamWords(state: string, enabled: boolean): { text: string; tone: Tone } {
  if (!enabled) return { text: 'Off', tone: 'muted' };
  switch (state) {
    case 'idle':
      return { text: 'Waiting for you to go live', tone: 'muted' };
    case 'connecting':
      return { text: 'Connecting', tone: 'warn' };
    case 'live':
      return { text: 'Sending', tone: 'ok' };
    case 'failed':
      return { text: 'Failed', tone: 'bad' };
    default:
      return { text: state, tone: 'muted' };
  }
}

/** A small state pill in a tone (`muted` is the plain pill). */
export function TonePill({ text, tone, testId }: { text: string; tone: Tone; testId?: string }) {
  return (
    <span className={`pill ${tone === 'muted' ? '' : tone}`} data-testid={testId}>
      {text}
    </span>
  );
}

/**
 * An actor state in the admin tree: `failed` and `restarting` are alarms; `starting`, `grace`
 * and `ending` are passing; `running`, `live`, `idle` and `stopped` are normal (idle is a child
 * with nothing to do, stopped one that finished).
 */
export function actorTone(state: string): 'alarm' | 'passing' | 'normal' {
  if (state === 'failed' || state === 'restarting') return 'alarm';
  if (state === 'starting' || state === 'grace' || state === 'ending') return 'passing';
  return 'normal';
}

/** A speed below real time: the server cannot keep up and viewers fall behind. */
export const SLOW_SPEED = 1.0;
export const SLOW_WORDS = 'the server cannot keep up; viewers will fall behind';
