import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { ServerInfo } from './generated/ServerInfo';

/** Where encoders push (the OBS "Server" field), as the server announces it. */
export function useIngest(): string {
  const info = useQuery({
    queryKey: ['server-info'],
    queryFn: () => api<ServerInfo>('/server', { auth: false }),
    staleTime: Infinity,
  });
  return info.data?.rtmp_url ?? `rtmp://${window.location.hostname}:1935/live`;
}
