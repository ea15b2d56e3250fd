import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import { Link } from 'react-router-dom';

type Kind = 'info' | 'success' | 'error';
/** A link a toast offers (the clip just made). */
type ToastLink = { to: string; label: string };
type Toast = { id: number; kind: Kind; text: string; link?: ToastLink };
type Api = { show: (text: string, kind?: Kind, link?: ToastLink) => void };

const Ctx = createContext<Api>({ show: () => {} });

/** `toast.show('Saved', 'success')` from anywhere below the provider. */
export function useToast(): Api {
  return useContext(Ctx);
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setItems((t) => t.filter((x) => x.id !== id)), []);
  const show = useCallback(
    (text: string, kind: Kind = 'info', link?: ToastLink) => {
      const id = next.current++;
      setItems((t) => [...t.slice(-3), { id, kind, text, link }]);
      // One with a link stays long enough to be followed.
      window.setTimeout(() => dismiss(id), kind === 'error' || link ? 8000 : 4000);
    },
    [dismiss],
  );
  const api = useMemo(() => ({ show }), [show]);
  return (
    <Ctx.Provider value={api}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {items.map((t) => (
          <div key={t.id} className={`toast ${t.kind}`}>
            <span className="grow">
              {t.text}
              {t.link && (
                <>
                  {' '}
                  <Link to={t.link.to} onClick={() => dismiss(t.id)}>
                    {t.link.label}
                  </Link>
                </>
              )}
            </span>
            <button className="ghost icon" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}
