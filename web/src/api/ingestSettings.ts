// How a channel's stream comes in (push over RTMP/SRT, or pulled from an RTSP camera) and
// where it is restreamed to. The shapes are the contract of /channels/{slug}/ingest and
// /channels/{slug}/restreams, written here by hand until ts-rs exports them into ./generated
// (then these types give way to the generated ones). Secrets (SRT passphrase, camera
// password, restream keys) are write-only: no type here can carry one back from the server.
import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import { keys } from './queries';

export type PullState = 'idle' | 'connecting' | 'live' | 'retrying' | 'held' | 'failed';

export type ChannelIngest = {
  srt_passphrase_set: boolean;
  source: 'push' | 'pull';
  pull_url: string | null;
  pull_has_credentials: boolean;
  pull_transport: 'tcp' | 'udp';
  pull_always_on: boolean;
  /** The pull right now, for a pulling channel. */
  pull_state: null | { state: PullState; last_error: string | null };
};

/** Absent fields stay as they are. */
export type UpdateChannelIngest = {
  /** 10-79 characters; `null` turns SRT encryption off. */
  srt_passphrase?: string | null;
  source?: 'push' | 'pull';
  /** `rtsp://host[:port]/path`, without credentials. */
  pull_url?: string;
  /** With `pull_password`; both "" clear the stored credentials. */
  pull_username?: string;
  pull_password?: string;
  pull_transport?: 'tcp' | 'udp';
  pull_always_on?: boolean;
};

export type RestreamState = 'idle' | 'connecting' | 'live' | 'failed';

export type RestreamDto = {
  id: number;
  name: string;
  url: string;
  enabled: boolean;
  state: RestreamState;
  last_error: string | null;
};

export type CreateRestream = { name: string; url: string; stream_key: string };
export type UpdateRestream = Partial<CreateRestream & { enabled: boolean }>;

/** The server keeps at most this many destinations per channel. */
export const MAX_RESTREAMS = 5;

const ch = (slug: string) => `/channels/${encodeURIComponent(slug)}`;
export const ingestPath = (slug: string) => `${ch(slug)}/ingest`;
export const restreamsPath = (slug: string) => `${ch(slug)}/restreams`;

export function useChannelIngest(slug: string) {
  return useQuery({
    queryKey: keys.ingestSettings(slug),
    queryFn: ({ signal }) => api<ChannelIngest>(ingestPath(slug), { signal, auth: true }),
    // A pull's state moves on its own (connecting, live, retrying): follow it.
    refetchInterval: (q) => (q.state.data?.source === 'pull' ? 5_000 : false),
  });
}

/** The destinations, followed every 5 s while the channel is on air (their states move then). */
export function useRestreams(slug: string, onAir: boolean) {
  return useQuery({
    queryKey: keys.restreams(slug),
    queryFn: ({ signal }) => api<RestreamDto[]>(restreamsPath(slug), { signal, auth: true }),
    refetchInterval: onAir ? 5_000 : false,
  });
}

/**
 * The URL an SRT encoder calls: OBS takes all of it in "Server" (Stream Key left empty),
 * ffmpeg as its output. The stream id stays raw (`#!::`), as both expect it.
 */
export function srtPublishUrl(srtUrl: string, streamKey: string): string {
  return `${srtUrl}?streamid=#!::r=live/${streamKey},m=publish`;
}

/** Client-side check of an SRT passphrase, the server's rule: 10 to 79 ASCII characters. */
export function passphraseProblem(p: string): string | null {
  if (p.length < 10 || p.length > 79) return 'the SRT passphrase must be 10 to 79 characters';
  // eslint-disable-next-line no-control-regex
  if (!/^[\x20-\x7e]+$/.test(p)) return 'use only ASCII letters, digits and punctuation';
  return null;
}

/** An RTSP camera URL as the server accepts it: rtsp://host[:port]/path, no login inside. */
export function pullUrlProblem(u: string): string | null {
  const s = u.trim();
  if (!/^rtsp:\/\/[^\s/]+/i.test(s)) return 'the URL must start with rtsp://, e.g. rtsp://192.168.1.20:554/stream1';
  const authority = s.replace(/^rtsp:\/\//i, '').split('/')[0];
  if (authority.includes('@')) return "put the camera's user name and password in their own fields, not in the URL";
  return null;
}

/** A restream destination's ingest URL: rtmp:// or rtmps://, the key kept apart. */
export function restreamUrlProblem(u: string): string | null {
  return /^rtmps?:\/\/\S+$/i.test(u.trim()) ? null : 'enter an rtmp:// or rtmps:// URL';
}
