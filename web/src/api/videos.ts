// Recordings (VODs) and clips: the wire types of the issue-12 contract, their query hooks and
// the same-origin paths a player loads.
//
// The types are declared here, exactly per the contract, until the Rust DTOs are exported by
// ts-rs into `generated/`; then this file re-exports those instead.
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { ChannelDto } from './generated/ChannelDto';
import type { RenditionDto } from './generated/RenditionDto';

export type Visibility = 'public' | 'unlisted' | 'private';
export type VideoStatus = 'recording' | 'processing' | 'ready' | 'failed';
export type ClipStatus = 'processing' | 'ready' | 'failed';

/** A chapter: its title and where it starts, in seconds from the start of the video. */
export type ChapterDto = { title: string; start: number };
export type SubtitleDto = { lang: string; label: string; url: string };

/** A recorded broadcast. */
export type VideoDto = {
  id: string;
  channel_slug: string;
  channel_title: string;
  streamer_name: string;
  title: string;
  description: string;
  visibility: Visibility;
  status: VideoStatus;
  duration_secs: number;
  size_bytes: number;
  created_at: string;
  ended_at: string | null;
  thumbnail_url: string | null;
  sprite_vtt_url: string | null;
  renditions: RenditionDto[];
  chapters: ChapterDto[];
  subtitles: SubtitleDto[];
  view_count: number;
  /** The VOD master playlist, absolute with the server's public URL. */
  playback_url: string;
  missing_segments: number;
  can_edit: boolean;
};

/** One page, newest first; `next_offset` is absent (or null) on the last page. */
export type VideoPage = { items: VideoDto[]; next_offset?: number | null };

export type ClipDto = {
  id: string;
  channel_slug: string;
  video_id: string | null;
  author_name: string;
  title: string;
  duration_secs: number;
  status: ClipStatus;
  error: string | null;
  created_at: string;
  mp4_url: string;
  playback_url: string;
  thumbnail_url: string | null;
  view_count: number;
  can_delete: boolean;
};

export type ClipPage = { items: ClipDto[]; next_offset?: number | null };

export type UpdateVideo = { title?: string; description?: string; visibility?: Visibility };
export type LiveClipRequest = { seconds: number; title?: string };
export type VideoClipRequest = { start: number; end: number; title?: string };
export type SubtitleUpload = { label: string; vtt: string };

/** The channel's recording settings (PATCH /channels/{slug} takes both). */
export type RecordingSettings = { record_vods: boolean; vod_retention_days: number | null };

/** ChannelDto with the contract's recording fields, optional until the generated type has them. */
type WithRecording = ChannelDto & Partial<RecordingSettings> & { live: (ChannelDto['live'] & { dvr_url?: string | null }) | null };

/** The channel's recording settings; a server without them reads as "record, keep forever". */
export function recordingSettings(c: ChannelDto): RecordingSettings {
  const r = c as WithRecording;
  return { record_vods: r.record_vods ?? true, vod_retention_days: r.vod_retention_days ?? null };
}

/** The live broadcast's DVR master (a playlist with the seek-back window), when the server offers one. */
export function dvrUrl(c: ChannelDto): string | null {
  return (c as WithRecording).live?.dvr_url ?? null;
}

/**
 * The path and query of an absolute URL from the API (they carry the configured public URL),
 * so the page loads it from the origin it was served from, as `hlsPath` does for live.
 */
export function localPath(url: string): string {
  try {
    const u = new URL(url, 'http://same-origin.invalid');
    return u.pathname + u.search + u.hash;
  } catch {
    return url;
  }
}

export const videoKeys = {
  video: (id: string) => ['video', id] as const,
  channelVideos: (slug: string) => ['channel-videos', slug] as const,
  clip: (id: string) => ['clip', id] as const,
  channelClips: (slug: string) => ['channel-clips', slug] as const,
};

const ch = (slug: string) => `/channels/${encodeURIComponent(slug)}`;
export const videoPath = (id: string) => `/videos/${encodeURIComponent(id)}`;
export const clipPath = (id: string) => `/clips/${encodeURIComponent(id)}`;

/** Videos and clips pages load this many at a time. */
export const PAGE_SIZE = 24;

export function useChannelVideos(slug: string, enabled = true) {
  return useInfiniteQuery({
    queryKey: videoKeys.channelVideos(slug),
    queryFn: ({ signal, pageParam }) => api<VideoPage>(`${ch(slug)}/videos?limit=${PAGE_SIZE}&offset=${pageParam}`, { signal }),
    initialPageParam: 0,
    getNextPageParam: (last) => last.next_offset ?? undefined,
    enabled,
    // A broadcast being recorded or processed becomes playable by itself.
    refetchInterval: (q) => (q.state.data?.pages.some((p) => p.items.some((v) => v.status === 'recording' || v.status === 'processing')) ? 5_000 : false),
  });
}

export function useChannelClips(slug: string) {
  return useInfiniteQuery({
    queryKey: videoKeys.channelClips(slug),
    queryFn: ({ signal, pageParam }) => api<ClipPage>(`${ch(slug)}/clips?limit=${PAGE_SIZE}&offset=${pageParam}`, { signal }),
    initialPageParam: 0,
    getNextPageParam: (last) => last.next_offset ?? undefined,
    refetchInterval: (q) => (q.state.data?.pages.some((p) => p.items.some((c) => c.status === 'processing')) ? 3_000 : false),
  });
}

/** A video; polled every 3 s while it is still being recorded or processed. */
export function useVideo(id: string) {
  return useQuery({
    queryKey: videoKeys.video(id),
    queryFn: ({ signal }) => api<VideoDto>(videoPath(id), { signal }),
    refetchInterval: (q) => (q.state.data && (q.state.data.status === 'recording' || q.state.data.status === 'processing') ? 3_000 : false),
  });
}

/** A clip; polled every second while it is being cut. */
export function useClip(id: string) {
  return useQuery({
    queryKey: videoKeys.clip(id),
    queryFn: ({ signal }) => api<ClipDto>(clipPath(id), { signal }),
    refetchInterval: (q) => (q.state.data?.status === 'processing' ? 1_000 : false),
  });
}

export const liveClipPath = (slug: string) => `${ch(slug)}/clips`;
export const videoClipPath = (id: string) => `${videoPath(id)}/clips`;
