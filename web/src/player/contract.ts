// TEMPORARY: the stream status contract (notes/CONTRACT.md) until the lead's commit
// "live: stream status contract" regenerates web/src/api/generated. Delete this file then.
import type { ChannelDto } from '../api/generated/ChannelDto';
import type { StreamHealth as OldStreamHealth } from '../api/generated/StreamHealth';

export type StreamStatus = 'offline' | 'starting' | 'live' | 'failed';
export type RenditionState = 'waiting' | 'ok' | 'failed' | 'dropped';
export type RenditionHealth = { name: string; height: number; state: RenditionState; segments: number; last_segment_age_s: number | null };

export type Channel = ChannelDto & { stream_status: StreamStatus; stream_problem: string | null };
export type StreamHealth = Omit<OldStreamHealth, 'renditions'> & {
  status: StreamStatus;
  problem: string | null;
  transcoder_state: string;
  transcoder_restarts: number;
  transcoder_last_error: string | null;
  renditions: RenditionHealth[];
};
