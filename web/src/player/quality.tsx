import { useEffect, useRef, useState } from 'react';

export type Level = { index: number; name: string; height: number; bitrate: number };

/** Menu order: highest first; names from the playlist (`source`, `720p`) or the height. */
export function menuLevels(levels: Level[]): Level[] {
  return [...levels].sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
}

export function levelLabel(l: Level): string {
  return l.name || `${l.height}p`;
}

/** What the quality button says: `Auto (480p)` while automatic, else the chosen level. */
export function qualityLabel(levels: Level[], selected: number, playing: number): string {
  const find = (i: number) => levels.find((l) => l.index === i);
  if (selected === -1) {
    const p = find(playing);
    return p ? `Auto (${levelLabel(p)})` : 'Auto';
  }
  const s = find(selected);
  return s ? levelLabel(s) : 'Auto';
}

export function QualityMenu({
  levels,
  selected,
  playing,
  onSelect,
  onOpenChange,
}: {
  levels: Level[];
  /** -1: automatic */
  selected: number;
  /** The level being played now. */
  playing: number;
  onSelect: (index: number) => void;
  onOpenChange?: (open: boolean) => void;
}) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const set = (o: boolean) => {
    setOpen(o);
    onOpenChange?.(o);
  };
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (!ref.current?.contains(e.target as Node)) {
        setOpen(false);
        onOpenChange?.(false);
      }
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open, onOpenChange]);
  if (levels.length === 0) return null;
  const choose = (i: number) => {
    onSelect(i);
    set(false);
  };
  const items = [{ index: -1, label: 'Auto' }, ...menuLevels(levels).map((l) => ({ index: l.index, label: levelLabel(l) }))];
  return (
    <div className="menu" ref={ref} onKeyDown={(e) => e.key === 'Escape' && set(false)}>
      <button aria-haspopup="menu" aria-expanded={open} aria-label={`Quality: ${qualityLabel(levels, selected, playing)}`} onClick={() => set(!open)}>
        <span aria-hidden="true">⚙</span>
        <span className="hide-phone">{qualityLabel(levels, selected, playing)}</span>
      </button>
      {open && (
        <div className="menu-list" role="menu" aria-label="Quality">
          {items.map((it, n) => (
            <button
              key={it.index}
              role="menuitemradio"
              aria-checked={selected === it.index}
              autoFocus={n === 0}
              onClick={() => choose(it.index)}
            >
              {it.label}
              {selected === it.index ? ' ✓' : ''}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
