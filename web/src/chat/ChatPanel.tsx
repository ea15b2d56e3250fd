import { Fragment, useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from 'react';
import { Link, useLocation } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { ChatMessage } from '../api/generated/ChatMessage';
import type { ChatRole } from '../api/generated/ChatRole';
import type { ClientMsg } from '../api/generated/ClientMsg';
import type { EmoteDto as Emote } from '../api/generated/EmoteDto';
import type { RoomMode } from '../api/generated/RoomMode';
import { useMe } from '../api/session';
import { formatDuration } from '../format';
import { HELP, parseCommand, type Command } from './commands';
import { mentions, splitMentions } from './mentions';
import { banUser, liftBan, moderationError, setRoomMode } from './moderation';
import { blockedReason, describeMode, type ChatState } from './reducer';
import { useChat } from './useChat';
import { UserCard } from './UserCard';
import { ReportButton } from '../components/ReportDialog';

function renderEmotes(text: string, emotes: Map<string, string>, key: string): ReactNode[] {
  return text.split(/(:[a-z0-9_]+:)/i).map((part, i) => {
    const url = emotes.get(part);
    return url ? <img key={`${key}-${i}`} className="emote" src={url} alt={part} title={part} /> : <Fragment key={`${key}-${i}`}>{part}</Fragment>;
  });
}

/**
 * Splits text into plain runs, emotes (`:wave:`) and mentions of `me` (`@me`, drawn
 * highlighted). Text is never parsed as HTML.
 */
export function renderText(text: string, emotes: Map<string, string>, me?: string | null) {
  if (emotes.size === 0 && !mentions(text, me)) return text;
  return splitMentions(text, me).map((run, i) =>
    run.mention ? (
      <mark key={i} className="mention">
        {run.text}
      </mark>
    ) : (
      <Fragment key={i}>{renderEmotes(run.text, emotes, String(i))}</Fragment>
    ),
  );
}

/** Runs a parsed command through the REST API; the room then announces what changed. */
export async function runCommand(slug: string, c: Command, mode: RoomMode): Promise<void> {
  switch (c.kind) {
    case 'ban':
      return banUser(slug, { username: c.user, reason: c.reason });
    case 'timeout':
      return banUser(slug, { username: c.user, seconds: c.seconds, reason: c.reason });
    case 'unban':
    case 'untimeout':
      return liftBan(slug, c.user);
    case 'slow':
      await setRoomMode(slug, { ...mode, slow_seconds: c.seconds });
      return;
    case 'followers':
      await setRoomMode(slug, { ...mode, followers_only: c.minutes });
      return;
    case 'help':
      return;
  }
}

function commandAction(c: Command) {
  return c.kind === 'unban' || c.kind === 'untimeout' ? 'lift' : c.kind === 'ban' || c.kind === 'timeout' ? c.kind : 'mode';
}

const Icon = {
  flag: (
    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path d="M3.5 14V2.5M3.5 3h8l-1.5 3 1.5 3h-8" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round" />
    </svg>
  ),
  trash: (
    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path d="M3 4h10M6.5 4V2.5h3V4M4.5 4l.7 9.5h5.6l.7-9.5" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round" />
    </svg>
  ),
  clock: (
    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" strokeWidth="1.5" />
      <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" />
    </svg>
  ),
  ban: (
    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" strokeWidth="1.5" />
      <path d="M3.8 12.2l8.4-8.4" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  ),
};

const ROLE_LABEL: Record<ChatRole, string> = { viewer: '', moderator: 'MOD', owner: 'HOST', admin: 'ADMIN' };

function nameColor(name: string): string {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 70% 62%)`;
}

export function ChatPanel({ slug, onViewers, playbackToken = null }: { slug: string; onViewers?: (n: number) => void; playbackToken?: string | null }) {
  const me = useMe();
  const { state, send, say, dismiss, notify } = useChat(slug, Boolean(me), playbackToken);
  const [card, setCard] = useState<string | null>(null);
  const closeCard = useCallback(() => setCard(null), []);
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
      <ChatLog slug={slug} state={state} emotes={emotes} canModerate={canModerate} send={send} dismiss={dismiss} notify={notify} openCard={setCard} />
      {card && <UserCard key={card} slug={slug} username={card} onClose={closeCard} />}
      <Composer slug={slug} state={state} say={say} notify={notify} canModerate={canModerate} emotes={emotesQ.data ?? []} />
    </aside>
  );
}

function ChatLog({
  slug,
  state,
  emotes,
  canModerate,
  send,
  dismiss,
  notify,
  openCard,
}: {
  slug: string;
  state: ChatState;
  emotes: Map<string, string>;
  canModerate: boolean;
  send: (m: ClientMsg) => boolean;
  dismiss: (id: string) => void;
  notify: (text: string, tone?: 'bad') => void;
  openCard: (username: string) => void;
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
  const quick = (user: string, seconds?: number) =>
    banUser(slug, seconds ? { username: user, seconds } : { username: user }).catch((e) => notify(moderationError(e, seconds ? 'timeout' : 'ban', user), 'bad'));
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
          <div
            key={e.msg.id}
            className={`chat-line${you && e.msg.user_id !== you.id && mentions(e.msg.text, you.username) ? ' mentioned' : ''}`}
            data-message-id={e.msg.id}
          >
            <span className="muted small" title={new Date(e.msg.sent_at).toLocaleString()}>
              {new Date(e.msg.sent_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}{' '}
            </span>
            {mayActOn(e.msg) && (
              // Inline before the name, never over it or the text.
              <span className="mod-actions" role="group" aria-label={`Moderate ${e.msg.username}`}>
                <button className="ghost" aria-label={`Delete message from ${e.msg.username}`} title="Delete message" onClick={() => send({ type: 'delete', id: e.msg.id })}>
                  {Icon.trash}
                </button>
                <button className="ghost" aria-label={`Time out ${e.msg.username} for 10 minutes`} title="Time out for 10 minutes" onClick={() => quick(e.msg.username, 600)}>
                  {Icon.clock}
                </button>
                <button className="ghost" aria-label={`Ban ${e.msg.username}`} title="Ban" onClick={() => quick(e.msg.username)}>
                  {Icon.ban}
                </button>
              </span>
            )}
            {e.msg.role !== 'viewer' && <span className={`badge ${e.msg.role}`}>{ROLE_LABEL[e.msg.role]}</span>}
            <button
              type="button"
              className="name"
              data-user-card-opener=""
              aria-haspopup="dialog"
              title={`About ${e.msg.username}`}
              style={{ color: nameColor(e.msg.username) }}
              onClick={() => openCard(e.msg.username)}
            >
              {e.msg.username}
            </button>
            <span>: {renderText(e.msg.text, emotes, you?.username)}</span>
            {you != null && e.msg.user_id !== you.id && (
              <ReportButton className="ghost report-msg" target={{ kind: 'message', target: slug, message_id: e.msg.id, label: `message from ${e.msg.username}` }}>
                {Icon.flag}
              </ReportButton>
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

function Composer({
  slug,
  state,
  say,
  notify,
  canModerate,
  emotes,
}: {
  slug: string;
  state: ChatState;
  say: (t: string) => void;
  notify: (text: string, tone?: 'bad') => void;
  canModerate: boolean;
  emotes: Emote[];
}) {
  const me = useMe();
  const location = useLocation();
  const [text, setText] = useState('');
  const [cmdError, setCmdError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
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
  const command = async (t: string) => {
    const parsed = parseCommand(t);
    if (!parsed) return false;
    // A command is never sent as a message, whatever happens to it.
    if (!parsed.ok) {
      setCmdError(parsed.error);
      return true;
    }
    const c = parsed.command;
    if (c.kind === 'help') {
      notify(canModerate ? 'Moderator commands:' : 'Moderator commands (you are not a moderator here):');
      for (const line of HELP) notify(line);
      setText('');
      return true;
    }
    if (!canModerate) {
      setCmdError(`/${c.kind} is for moderators: you are not a moderator of this channel.`);
      return true;
    }
    setRunning(true);
    try {
      await runCommand(slug, c, state.mode);
      setText('');
    } catch (err) {
      setCmdError(moderationError(err, commandAction(c), 'user' in c ? c.user : undefined));
    } finally {
      setRunning(false);
    }
    return true;
  };
  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    const t = text.trim();
    setCmdError(null);
    if (!t || running) return;
    if (await command(t)) return;
    if (blocked || wait) return;
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
        onChange={(e) => {
          setText(e.target.value);
          setCmdError(null);
        }}
        onKeyDown={onKey}
        disabled={Boolean(blocked)}
        aria-describedby={cmdError ? 'chat-cmd-error' : undefined}
      />
      {cmdError && (
        <p id="chat-cmd-error" className="chat-status bad" role="alert" style={{ margin: '6px 0 0' }}>
          {cmdError}
        </p>
      )}
      <div className="row" style={{ marginTop: 6 }}>
        {emotes.length > 0 && (
          <EmotePicker emotes={emotes} onPick={(code) => setText((t) => (t && !t.endsWith(' ') ? `${t} ` : t) + `:${code}: `)} />
        )}
        <span className="grow muted small">{wait ? `Slow mode: wait ${formatDuration(wait)}` : text.length > 400 ? `${500 - text.length} left` : ''}</span>
        <button className="primary" type="submit" disabled={!text.trim() || running || (!text.trim().startsWith('/') && (Boolean(blocked) || wait > 0))}>
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
/** Minutes of following asked for; null: off. Any other value: the settings page or /followers. */
const FOLLOWERS: (number | null)[] = [null, 0, 10, 60, 1440, 10080];

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
              {s === 0 ? 'Slow mode off' : `Slow mode: ${formatDuration(s)}`}
              {m.slow_seconds === s ? ' ✓' : ''}
            </button>
          ))}
          <div className="sep" />
          <button role="menuitemcheckbox" aria-checked={m.emote_only} onClick={() => set({ emote_only: !m.emote_only })}>
            Emote-only {m.emote_only ? '✓' : ''}
          </button>
          <div className="sep" />
          {FOLLOWERS.map((f) => (
            <button key={String(f)} role="menuitemradio" aria-checked={m.followers_only === f} onClick={() => set({ followers_only: f })}>
              {f == null ? 'Followers-only off' : f === 0 ? 'Followers-only: any follower' : `Followers-only: followers of ${formatDuration(f * 60)}`}
              {m.followers_only === f ? ' ✓' : ''}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
