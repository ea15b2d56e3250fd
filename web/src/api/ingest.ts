import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { ServerInfo } from './generated/ServerInfo';

/**
 * `GET /server`. `srt_url` is newer than the generated type (it lands when ts-rs exports it
 * again), and a server older than it does not send it.
 */
type ServerInfoWithSrt = ServerInfo & { srt_url?: string };

export function useServerInfo() {
  return useQuery({
    queryKey: ['server-info'],
    queryFn: () => api<ServerInfoWithSrt>('/server', { auth: false }),
    staleTime: Infinity,
  });
}

/** Where encoders push (the OBS "Server" field), as the server announces it. */
export function useIngest(): string {
  return useServerInfo().data?.rtmp_url ?? `rtmp://${window.location.hostname}:1935/live`;
}

/** Where SRT encoders call, `srt://HOST:PORT` (the stream id is added per channel). */
export function useSrtIngest(): string {
  return useServerInfo().data?.srt_url ?? `srt://${window.location.hostname}:9000`;
}
