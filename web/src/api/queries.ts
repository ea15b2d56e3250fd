// Server state through TanStack Query: one hook per resource, keys in one place.
import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { ChannelDto } from './generated/ChannelDto';
import type { ChannelPage } from './generated/ChannelPage';
import type { ChatUserCard } from './generated/ChatUserCard';
import type { FollowState } from './generated/FollowState';
import type { FollowedChannel } from './generated/FollowedChannel';
import type { NotificationSettings } from './generated/NotificationSettings';
import type { StreamHealth } from './generated/StreamHealth';

export const keys = {
  channels: (q: ChannelFilter) => ['channels', q] as const,
  channel: (slug: string) => ['channel', slug] as const,
  myChannels: ['my-channels'] as const,
  health: (slug: string) => ['health', slug] as const,
  follow: (slug: string) => ['follow', slug] as const,
  following: ['following'] as const,
  notifySettings: ['notification-settings'] as const,
  notifications: ['notifications'] as const,
  analytics: (slug: string, range: string) => ['analytics', slug, range] as const,
  broadcastAnalytics: (id: number) => ['broadcast-analytics', id] as const,
  webhooks: (slug: string) => ['webhooks', slug] as const,
  ingestSettings: (slug: string) => ['ingest-settings', slug] as const,
  restreams: (slug: string) => ['restreams', slug] as const,
  deliveries: (slug: string, id: number) => ['webhook-deliveries', slug, id] as const,
  bans: (slug: string) => ['bans', slug] as const,
  chatUser: (slug: string, username: string) => ['chat-user', slug, username.toLowerCase()] as const,
};

const ch = (slug: string) => `/channels/${encodeURIComponent(slug)}`;

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

/** Whether the signed-in user follows `slug`, and its follower count. */
export function useFollowState(slug: string, signedIn: boolean) {
  return useQuery({
    queryKey: keys.follow(slug),
    queryFn: ({ signal }) => api<FollowState>(`${ch(slug)}/follow`, { signal, auth: true }),
    enabled: signedIn,
  });
}

export const followPath = (slug: string) => `${ch(slug)}/follow`;

/** A chat user card: public fields, plus moderation state when the reader moderates `slug`. */
export function useChatUserCard(slug: string, username: string) {
  return useQuery({
    queryKey: keys.chatUser(slug, username),
    queryFn: ({ signal }) => api<ChatUserCard>(`/chat/${encodeURIComponent(slug)}/users/${encodeURIComponent(username)}`, { signal }),
    // Each opening reads it afresh (a ban may have come and gone since), and an open card
    // follows other moderators' actions.
    gcTime: 0,
    refetchInterval: 10_000,
  });
}

/** Live first, then by viewers, then by name (the server sends them so; kept on refetch merges). */
export function sortFollowed(items: FollowedChannel[]): FollowedChannel[] {
  return [...items].sort(
    (a, b) =>
      Number(b.channel.is_live) - Number(a.channel.is_live) ||
      (a.channel.is_live ? b.channel.viewer_count - a.channel.viewer_count : 0) ||
      a.channel.owner.username.localeCompare(b.channel.owner.username),
  );
}

export function useFollowing(enabled: boolean) {
  return useQuery({
    queryKey: keys.following,
    queryFn: ({ signal }) => api<FollowedChannel[]>('/users/me/following', { signal, auth: true }),
    select: sortFollowed,
    enabled,
    refetchInterval: 30_000,
  });
}

export function useNotificationSettings() {
  return useQuery({
    queryKey: keys.notifySettings,
    queryFn: ({ signal }) => api<NotificationSettings>('/notifications/settings', { signal, auth: true }),
  });
}

/** Same-origin paths (the API's absolute URLs use the configured public URL). */
export const hlsPath = (slug: string) => `/hls/${encodeURIComponent(slug)}/master.m3u8`;
export const thumbPath = (slug: string, bust: number) =>
  `/api/v1/channels/${encodeURIComponent(slug)}/thumbnail.jpg?t=${bust}`;
