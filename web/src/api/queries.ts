// Server state through TanStack Query: one hook per resource, keys in one place.
import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { ChannelDto } from './generated/ChannelDto';
import type { ChannelPage } from './generated/ChannelPage';
import type { StreamHealth } from './generated/StreamHealth';

export const keys = {
  channels: (q: ChannelFilter) => ['channels', q] as const,
  channel: (slug: string) => ['channel', slug] as const,
  myChannels: ['my-channels'] as const,
  health: (slug: string) => ['health', slug] as const,
};

export type ChannelFilter = { live?: boolean; q?: string; category?: string };

export function channelsPath(f: ChannelFilter, limit = 48): string {
  const p = new URLSearchParams();
  if (f.live) p.set('live', 'true');
  if (f.q) p.set('q', f.q);
  if (f.category) p.set('category', f.category);
  p.set('limit', String(limit));
  return `/channels?${p}`;
}

export function useChannels(f: ChannelFilter) {
  return useQuery({
    queryKey: keys.channels(f),
    queryFn: ({ signal }) => api<ChannelPage>(channelsPath(f), { signal, auth: false }),
    refetchInterval: 15_000,
  });
}

export function useChannel(slug: string) {
  return useQuery({
    queryKey: keys.channel(slug),
    queryFn: ({ signal }) => api<ChannelDto>(`/channels/${encodeURIComponent(slug)}`, { signal, auth: false }),
    // Viewer count and live state follow the stream.
    refetchInterval: 5_000,
  });
}

export function useMyChannels(enabled: boolean) {
  return useQuery({
    queryKey: keys.myChannels,
    queryFn: ({ signal }) => api<ChannelDto[]>('/users/me/channels', { signal, auth: true }),
    enabled,
    refetchInterval: 5_000,
  });
}

export function useStreamHealth(slug: string, live: boolean) {
  return useQuery({
    queryKey: keys.health(slug),
    queryFn: ({ signal }) => api<StreamHealth>(`/channels/${encodeURIComponent(slug)}/health`, { signal, auth: true }),
    enabled: live,
    refetchInterval: 1_000,
    retry: false,
  });
}

/** Same-origin paths (the API's absolute URLs use the configured public URL). */
export const hlsPath = (slug: string) => `/hls/${encodeURIComponent(slug)}/master.m3u8`;
export const thumbPath = (slug: string, bust: number) =>
  `/api/v1/channels/${encodeURIComponent(slug)}/thumbnail.jpg?t=${bust}`;
