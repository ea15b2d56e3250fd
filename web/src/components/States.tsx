import type { ReactNode } from 'react';
import { errorMessage } from '../api/client';

export function Loading({ label = 'Loading' }: { label?: string }) {
  return (
    <div role="status" aria-live="polite">
      <div className="spinner" aria-hidden="true" />
      <span className="visually-hidden">{label}…</span>
    </div>
  );
}

export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div className="card" role="alert">
      <p>{errorMessage(error)}</p>
      {retry && <button onClick={retry}>Try again</button>}
    </div>
  );
}

/**
 * Something that is gone on purpose (410): a video or clip taken down, a suspended owner's
 * channel. The server's message is the notice; retrying would not help.
 */
export function GoneState({ error, what }: { error: unknown; what: string }) {
  return (
    <div className="card" role="alert">
      <h1>This {what} is unavailable</h1>
      <p>{errorMessage(error)}</p>
    </div>
  );
}

/** Previous / "1–25 of 80" / Next under a paged admin table. */
export function Pager({
  offset,
  shown,
  total,
  size,
  next,
  onOffset,
}: {
  offset: number;
  shown: number;
  total: number;
  size: number;
  next: number | null | undefined;
  onOffset: (offset: number) => void;
}) {
  return (
    <div className="row">
      <button disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - size))}>
        Previous
      </button>
      <span className="muted small">
        {offset + 1}–{offset + shown} of {total}
      </span>
      <button disabled={next == null} onClick={() => next != null && onOffset(next)}>
        Next
      </button>
    </div>
  );
}

/** A copyable read-only value (stream key, server URL). */
export function CopyField({
  id,
  label,
  value,
  secret,
  onCopied,
}: {
  id: string;
  label: string;
  value: string;
  secret?: boolean;
  onCopied?: () => void;
}) {
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      const el = document.getElementById(id) as HTMLInputElement | null;
      el?.select();
      document.execCommand?.('copy');
    }
    onCopied?.();
  };
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-field">
        <input id={id} readOnly value={value} type={secret ? 'password' : 'text'} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" onClick={copy} aria-label={`Copy ${label}`}>
          Copy
        </button>
      </div>
    </div>
  );
}

export function Field({
  id,
  label,
  error,
  hint,
  children,
}: {
  id: string;
  label: string;
  error?: string;
  hint?: ReactNode;
  children: ReactNode;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && !error && (
        <div className="hint" id={`${id}-hint`}>
          {hint}
        </div>
      )}
      {error && (
        <div className="error" id={`${id}-error`} role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

export function Confirm({
  title,
  children,
  confirmLabel,
  danger,
  onConfirm,
  onCancel,
}: {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <div className="modal-back" onKeyDown={(e) => e.key === 'Escape' && onCancel()}>
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
        <h2 id="confirm-title" style={{ marginTop: 0 }}>
          {title}
        </h2>
        <div>{children}</div>
        <div className="row" style={{ justifyContent: 'flex-end', marginTop: 16 }}>
          <button onClick={onCancel} autoFocus>
            Cancel
          </button>
          <button className={danger ? 'danger' : 'primary'} onClick={onConfirm}>
            {confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

export function formatCount(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${Math.round(n / 1000)}K`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}K`;
  return String(n);
}

export function timeAgo(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.round(h / 24)} days ago`;
}

export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}
