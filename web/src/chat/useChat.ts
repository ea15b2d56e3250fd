// One chat socket per watch page: a fresh ticket per connection when signed in (tickets are
// single-use and short-lived; access tokens never go in URLs), reconnect with backoff and
// `last_id` so nothing is missed or repeated, and resend unconfirmed messages with the same
// `client_id` (the server stores each client id once).
import { useCallback, useEffect, useReducer, useRef } from 'react';
import { api } from '../api/client';
import type { ClientMsg } from '../api/generated/ClientMsg';
import type { ServerMsg } from '../api/generated/ServerMsg';
import type { TicketDto } from '../api/generated/TicketDto';
import { tokens } from '../api/tokens';
import { chatReducer, initialChat, type ChatState } from './reducer';

export function newClientId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function socketUrl(loc: { protocol: string; host: string }, slug: string, ticket: string | null, lastId: number, playbackToken: string | null = null): string {
  const p = new URLSearchParams();
  if (ticket) p.set('ticket', ticket);
  // The chat of a channel that is not public is for those who may watch it.
  if (playbackToken) p.set('token', playbackToken);
  if (lastId > 0) p.set('last_id', String(lastId));
  const q = p.toString();
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/api/v1/chat/${encodeURIComponent(slug)}/ws${q ? `?${q}` : ''}`;
}

export function useChat(slug: string, signedIn: boolean, playbackToken: string | null = null) {
  const [state, dispatch] = useReducer(chatReducer, initialChat);
  // Each (re)connection takes the latest token; a renewal does not reconnect.
  const tokenRef = useRef(playbackToken);
  tokenRef.current = playbackToken;
  const ws = useRef<WebSocket | null>(null);
  const stateRef = useRef<ChatState>(state);
  stateRef.current = state;

  useEffect(() => {
    let stopped = false;
    let attempt = 0;
    let timer: number | undefined;
    let ping: number | undefined;
    const connect = async () => {
      dispatch({ type: 'connection', connection: attempt === 0 ? 'connecting' : 'reconnecting' });
      let ticket: string | null = null;
      if (signedIn && tokens.signedIn()) {
        try {
          ticket = (await api<TicketDto>(`/chat/${encodeURIComponent(slug)}/ticket`, { method: 'POST', auth: true })).ticket;
        } catch {
          ticket = null; // read-only until the next reconnect
        }
      }
      if (stopped) return;
      const sock = new WebSocket(socketUrl(window.location, slug, ticket, stateRef.current.lastId, tokenRef.current));
      ws.current = sock;
      sock.onopen = () => {
        attempt = 0;
        window.clearInterval(ping);
        ping = window.setInterval(() => send({ type: 'ping' }), 20_000);
      };
      sock.onmessage = (e) => {
        let msg: ServerMsg;
        try {
          msg = JSON.parse(String(e.data)) as ServerMsg;
        } catch {
          return;
        }
        dispatch({ type: 'server', msg, now: Date.now() });
        if (msg.type === 'welcome') {
          // Unconfirmed sends from before a reconnect go again, same client id.
          for (const p of stateRef.current.pending) {
            if (p.status === 'sending') send({ type: 'send', client_id: p.client_id, text: p.text });
          }
        }
        if (msg.type === 'rejected' && msg.client_id && (msg.code === 'unavailable' || msg.code === 'overloaded')) {
          const id = msg.client_id;
          const p = stateRef.current.pending.find((x) => x.client_id === id);
          if (p && p.tries < 4) {
            window.setTimeout(() => {
              dispatch({ type: 'retried', client_id: id });
              send({ type: 'send', client_id: id, text: p.text });
            }, msg.retry_after_ms ?? 1000 * p.tries);
          }
        }
      };
      sock.onclose = () => {
        window.clearInterval(ping);
        if (ws.current === sock) ws.current = null;
        if (stopped) return;
        attempt += 1;
        dispatch({ type: 'connection', connection: 'reconnecting' });
        const wait = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)) * (0.75 + Math.random() / 2);
        timer = window.setTimeout(connect, wait);
      };
    };
    const send = (m: ClientMsg) => {
      if (ws.current?.readyState === WebSocket.OPEN) ws.current.send(JSON.stringify(m));
    };
    connect();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      window.clearInterval(ping);
      ws.current?.close(1000);
      ws.current = null;
      dispatch({ type: 'connection', connection: 'closed' });
    };
  }, [slug, signedIn]);

  const send = useCallback((m: ClientMsg): boolean => {
    const sock = ws.current;
    if (!sock || sock.readyState !== WebSocket.OPEN) return false;
    sock.send(JSON.stringify(m));
    return true;
  }, []);

  const say = useCallback(
    (text: string) => {
      const client_id = newClientId();
      dispatch({ type: 'sent', client_id, text });
      send({ type: 'send', client_id, text });
    },
    [send],
  );

  const dismiss = useCallback((client_id: string) => dispatch({ type: 'dismiss', client_id }), []);

  /** A line in the log for this reader only (a command's answer, `/help`). */
  const notify = useCallback((text: string, tone?: 'bad') => dispatch({ type: 'notice', text, tone }), []);

  return { state, send, say, dismiss, notify };
}
