import { Fragment, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { ChatMessage } from '../api/generated/ChatMessage';
import type { ChatRole } from '../api/generated/ChatRole';
import type { ClientMsg } from '../api/generated/ClientMsg';
import type { EmoteDto as Emote } from '../api/generated/EmoteDto';
import { useMe } from '../api/session';
import { blockedReason, describeMode, type ChatState } from './reducer';
import { useChat } from './useChat';

/** Splits text into plain runs and emotes (`:wave:`). Text is never parsed as HTML. */
export function renderText(text: string, emotes: Map<string, string>) {
  if (emotes.size === 0) return text;
  return text.split(/(:[a-z0-9_]+:)/i).map((part, i) => {
    const url = emotes.get(part);
    return url ? <img key={i} className="emote" src={url} alt={part} title={part} /> : <Fragment key={i}>{part}</Fragment>;
  });
}

const ROLE_LABEL: Record<ChatRole, string> = { viewer: '', moderator: 'MOD', owner: 'HOST', admin: 'ADMIN' };

function nameColor(name: string): string {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 70% 62%)`;
}

export function ChatPanel({ slug, onViewers }: { slug: string; onViewers?: (n: number) => void }) {
  const me = useMe();
  const { state, send, say, dismiss } = useChat(slug, Boolean(me));
  const emotesQ = useQuery({ queryKey: ['emotes'], queryFn: () => api<Emote[]>('/chat/emotes', { auth: false }), staleTime: Infinity });
  const emotes = new Map((emotesQ.data ?? []).map((e) => [`:${e.code}:`, e.url]));
  useEffect(() => {
    if (state.viewers != null) onViewers?.(state.viewers);
  }, [state.viewers, onViewers]);
  const canModerate = state.you != null && state.you.role !== 'viewer';
  return (
    <aside className="chat" aria-label="Chat">
      <div className="chat-head">
        <span className="grow">Stream chat</span>
        {canModerate && <ModeMenu state={state} send={send} />}
      </div>
      <ChatLog state={state} emotes={emotes} canModerate={canModerate} send={send} dismiss={dismiss} />
      <Composer state={state} say={say} emotes={emotesQ.data ?? []} />
    </aside>
  );
}

function ChatLog({
  state,
  emotes,
  canModerate,
  send,
  dismiss,
}: {
  state: ChatState;
  emotes: Map<string, string>;
  canModerate: boolean;
  send: (m: ClientMsg) => boolean;
  dismiss: (id: string) => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  // Follow new messages while scrolled to the bottom; leave the reader alone otherwise.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });
  const you = state.you;
  const mayActOn = (m: ChatMessage) =>
    canModerate && you != null && m.user_id !== you.id && (m.role === 'viewer' || (m.role === 'moderator' && (you.role === 'owner' || you.role === 'admin')));
  return (
    <div
      className="chat-log"
      ref={box}
      role="log"
      aria-live="polite"
      aria-label="Chat messages"
      tabIndex={0}
      onScroll={(e) => {
        const el = e.currentTarget;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      }}
    >
      {state.connection === 'connecting' && state.log.length === 0 && <div className="chat-notice">Connecting to chat…</div>}
      {state.log.length === 0 && state.connection === 'open' && <div className="chat-notice">Welcome to the chat! Say hi.</div>}
      {state.log.map((e) =>
        e.kind === 'notice' ? (
          <div key={`n${e.key}`} className="chat-notice" style={e.tone === 'bad' ? { color: 'var(--bad)' } : undefined}>
            {e.text}
          </div>
        ) : (
          <div key={e.msg.id} className="chat-line" data-message-id={e.msg.id}>
            <span className="muted small" title={new Date(e.msg.sent_at).toLocaleString()}>
              {new Date(e.msg.sent_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}{' '}
            </span>
            {e.msg.role !== 'viewer' && <span className={`badge ${e.msg.role}`}>{ROLE_LABEL[e.msg.role]}</span>}
            <span className="name" style={{ color: nameColor(e.msg.username) }}>
              {e.msg.username}
            </span>
            <span>: {renderText(e.msg.text, emotes)}</span>
            {mayActOn(e.msg) && (
              <span className="mod-actions">
                <button className="ghost" aria-label={`Delete message from ${e.msg.username}`} title="Delete" onClick={() => send({ type: 'delete', id: e.msg.id })}>
                  Delete
                </button>
                <button className="ghost" aria-label={`Time out ${e.msg.username} for 10 minutes`} title="Timeout 10 min" onClick={() => send({ type: 'timeout', user: e.msg.username, seconds: 600 })}>
                  Timeout
                </button>
                <button className="ghost" aria-label={`Ban ${e.msg.username}`} title="Ban" onClick={() => send({ type: 'ban', user: e.msg.username })}>
                  Ban
                </button>
              </span>
            )}
          </div>
        ),
      )}
      {state.pending.map((p) => (
        <div key={p.client_id} className={`chat-line ${p.status === 'rejected' ? 'rejected' : 'pending'}`}>
          <span className="name">{you?.username ?? 'you'}</span>: {p.text}
          {p.status === 'rejected' ? (
            <div className="small" role="alert">
              Not sent: {p.reason}{' '}
              <button className="ghost" style={{ minHeight: 24, padding: '0 6px' }} onClick={() => dismiss(p.client_id)}>
                Dismiss
              </button>
            </div>
          ) : (
            <span className="visually-hidden"> (sending)</span>
          )}
        </div>
      ))}
    </div>
  );
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const id = window.setInterval(() => setNow(Date.now()), 250);
    return () => window.clearInterval(id);
  }, [active]);
  return now;
}

function Composer({ state, say, emotes }: { state: ChatState; say: (t: string) => void; emotes: Emote[] }) {
  const me = useMe();
  const location = useLocation();
  const [text, setText] = useState('');
  const waiting = (state.waitUntil ?? 0) > Date.now() || (state.timedOutUntil ?? 0) > Date.now();
  const now = useNow(waiting);
  if (!me) {
    return (
      <div className="chat-form chat-signin">
        <p className="chat-status">Log in or sign up to chat.</p>
        <div className="row">
          <Link className="button grow" to="/login" state={{ from: location.pathname }}>
            Log in
          </Link>
          <Link className="button primary grow" to="/register" state={{ from: location.pathname }}>
            Sign up
          </Link>
        </div>
      </div>
    );
  }
  const blocked = blockedReason(state, now);
  const wait = state.waitUntil && state.waitUntil > now ? Math.ceil((state.waitUntil - now) / 1000) : 0;
  const offline = state.connection !== 'open';
  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    const t = text.trim();
    if (!t || blocked || wait) return;
    say(t);
    setText('');
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      submit();
    }
  };
  return (
    <form className="chat-form" onSubmit={submit}>
      {(blocked || offline || state.mode.slow_seconds > 0 || state.mode.emote_only || state.mode.followers_only != null) && (
        <p className={`chat-status${blocked ? ' bad' : ''}`} role="status">
          {blocked ??
            (offline
              ? state.connection === 'reconnecting'
                ? 'Reconnecting…'
                : 'Connecting…'
              : `This chat is in ${describeMode(state.mode)}.`)}
        </p>
      )}
      <label htmlFor="chat-input" className="visually-hidden">
        Send a message
      </label>
      <textarea
        id="chat-input"
        placeholder={blocked ? 'You cannot chat right now' : 'Send a message'}
        value={text}
        maxLength={500}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKey}
        disabled={Boolean(blocked)}
      />
      <div className="row" style={{ marginTop: 6 }}>
        {emotes.length > 0 && (
          <EmotePicker emotes={emotes} onPick={(code) => setText((t) => (t && !t.endsWith(' ') ? `${t} ` : t) + `:${code}: `)} />
        )}
        <span className="grow muted small">{wait ? `Slow mode: ${wait} s` : text.length > 400 ? `${500 - text.length} left` : ''}</span>
        <button className="primary" type="submit" disabled={!text.trim() || Boolean(blocked) || wait > 0}>
          Chat
        </button>
      </div>
    </form>
  );
}

function EmotePicker({ emotes, onPick }: { emotes: Emote[]; onPick: (code: string) => void }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="menu">
      <button type="button" className="icon ghost" aria-haspopup="menu" aria-expanded={open} aria-label="Emotes" onClick={() => setOpen(!open)}>
        ☺
      </button>
      {open && (
        <div className="menu-list" role="menu" aria-label="Emotes" style={{ bottom: 'calc(100% + 4px)', top: 'auto', left: 0, right: 'auto', flexDirection: 'row', flexWrap: 'wrap', width: 220 }}>
          {emotes.map((e) => (
            <button
              key={e.code}
              type="button"
              role="menuitem"
              style={{ width: 'auto' }}
              aria-label={`:${e.code}:`}
              title={`:${e.code}:`}
              onClick={() => {
                onPick(e.code);
                setOpen(false);
              }}
            >
              <img className="emote" src={e.url} alt="" />
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

const SLOW = [0, 3, 10, 30, 60, 120];

function ModeMenu({ state, send }: { state: ChatState; send: (m: ClientMsg) => boolean }) {
  const [open, setOpen] = useState(false);
  const m = state.mode;
  const set = (patch: Partial<typeof m>) => {
    const next = { ...m, ...patch };
    send({ type: 'set_mode', slow_seconds: next.slow_seconds, emote_only: next.emote_only, ...(next.followers_only != null ? { followers_only: next.followers_only } : {}) });
  };
  return (
    <div className="menu" onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
      <button className="ghost" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)} style={{ minHeight: 28, padding: '2px 8px', textTransform: 'none' }}>
        Chat modes
      </button>
      {open && (
        <div className="menu-list" role="menu" aria-label="Chat modes">
          {SLOW.map((s) => (
            <button key={s} role="menuitemradio" aria-checked={m.slow_seconds === s} onClick={() => set({ slow_seconds: s })}>
              {s === 0 ? 'Slow mode off' : `Slow mode ${s} s`}
              {m.slow_seconds === s ? ' ✓' : ''}
            </button>
          ))}
          <div className="sep" />
          <button role="menuitemcheckbox" aria-checked={m.emote_only} onClick={() => set({ emote_only: !m.emote_only })}>
            Emote-only {m.emote_only ? '✓' : ''}
          </button>
          <button role="menuitemcheckbox" aria-checked={m.followers_only != null} onClick={() => set({ followers_only: m.followers_only != null ? null : 0 })}>
            Followers-only {m.followers_only != null ? '✓' : ''}
          </button>
        </div>
      )}
    </div>
  );
}
