// Moderation over REST, shared by the user card, the chat commands, the message row's buttons
// and the chat settings' bans list: each call answers with its own error, shown where it was made.
import { api, ApiError, errorMessage } from '../api/client';
import type { BanRequest } from '../api/generated/BanRequest';
import type { RoomMode } from '../api/generated/RoomMode';

const ch = (slug: string) => `/channels/${encodeURIComponent(slug)}`;

/** Ban (no `seconds`) or time out (`seconds`). */
export function banUser(slug: string, req: BanRequest): Promise<void> {
  return api<void>(`${ch(slug)}/chat/bans`, { method: 'POST', body: req, auth: true });
}

/** Lift a ban or a timeout. */
export function liftBan(slug: string, username: string): Promise<void> {
  return api<void>(`${ch(slug)}/chat/bans/${encodeURIComponent(username)}`, { method: 'DELETE', auth: true });
}

export function setRoomMode(slug: string, mode: RoomMode): Promise<RoomMode> {
  return api<RoomMode>(`${ch(slug)}/chat/mode`, { method: 'PUT', body: mode, auth: true });
}

export type ModAction = 'ban' | 'timeout' | 'lift' | 'mode';

/** What to tell a moderator whose action failed, in words about `user`. */
export function moderationError(e: unknown, action: ModAction, user?: string): string {
  if (e instanceof ApiError) {
    if (e.status === 401 || (e.status === 403 && e.message.startsWith('only'))) return 'You are not a moderator of this channel.';
    if (e.status === 403) return `You cannot ban or time out ${user ?? 'that user'}: the owner, admins and moderators are protected.`;
    if (e.status === 404) {
      if (action === 'lift' && !e.message.startsWith('user')) return `${user} is not banned or timed out.`;
      if (user) return `Unknown user ${user}.`;
    }
  }
  return errorMessage(e);
}
