// Recordings (VODs) and clips: their query hooks, and the same-origin paths a player loads.
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { ClipDto } from './generated/ClipDto';
import type { ClipPage } from './generated/ClipPage';
import type { VideoDto } from './generated/VideoDto';
import type { VideoPage } from './generated/VideoPage';

export type Visibility = VideoDto['visibility'];

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
    getNextPageParam: (last) => last.next_offset,
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
    getNextPageParam: (last) => last.next_offset,
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
