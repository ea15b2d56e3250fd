// Test data for the video and clip pages' tests: a channel, videos and clips as the API sends them.
import type { ChannelDto } from '../api/generated/ChannelDto';
import type { ClipDto } from '../api/generated/ClipDto';
import type { VideoDto } from '../api/generated/VideoDto';

export const channel: ChannelDto = {
  id: 3,
  slug: 'anns-room',
  title: 'Evening music',
  description: '',
  category: 'Music',
  is_live: false,
  stream_status: 'offline',
  stream_problem: null,
  viewer_count: 0,
  live: null,
  thumbnail_url: '',
  owner: { id: 7, username: 'ann', display_name: 'Ann' },
  created_at: '2026-01-01T00:00:00Z',
  followers: 0,
  record_vods: true,
  vod_retention_days: null,
  visibility: 'public',
};

export function video(n: number, over: Partial<VideoDto> = {}): VideoDto {
  const id = String(n).padStart(32, '0');
  return {
    id,
    channel_slug: 'anns-room',
    channel_title: 'Evening music',
    streamer_name: 'Ann',
    title: `Broadcast ${n}`,
    description: '',
    visibility: 'public',
    status: 'ready',
    duration_secs: 95.4,
    size_bytes: 1000,
    created_at: new Date(Date.now() - n * 3600_000).toISOString(),
    ended_at: new Date(Date.now() - n * 3600_000 + 95_000).toISOString(),
    thumbnail_url: `http://public.example/vod/${id}/thumb.jpg`,
    sprite_vtt_url: null,
    renditions: [],
    chapters: [],
    subtitles: [],
    view_count: n,
    playback_url: `http://public.example/vod/${id}/master.m3u8`,
    missing_segments: 0,
    can_edit: false,
    takedown: null,
    ...over,
  };
}

export function clip(n: number, over: Partial<ClipDto> = {}): ClipDto {
  const id = `c${String(n).padStart(31, '0')}`;
  return {
    id,
    channel_slug: 'anns-room',
    video_id: null,
    author_name: 'Bob',
    title: `Clip ${n}`,
    duration_secs: 30,
    status: 'ready',
    error: null,
    created_at: new Date(Date.now() - n * 60_000).toISOString(),
    mp4_url: `http://public.example/clips/${id}/clip.mp4`,
    playback_url: `http://public.example/clips/${id}/index.m3u8`,
    thumbnail_url: null,
    view_count: 0,
    can_delete: false,
    takedown: null,
    ...over,
  };
}

export const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
