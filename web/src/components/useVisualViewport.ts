// The part of the screen a person can see, for layouts that must stay above the on-screen
// keyboard. Phones open the keyboard over the page (the layout viewport keeps its size; only
// the visual viewport shrinks, and may be scrolled), so `100vh` / `100dvh` stay too tall: the
// page sizes itself from `window.visualViewport` instead.
import { useEffect, useState } from 'react';

export type VisibleArea = {
  /** Top of the area below the top bar, in layout-viewport pixels (what `position: fixed` uses). */
  top: number;
  /** Its height down to the top of the keyboard (or the bottom of the screen). */
  height: number;
  /** The keyboard (or something like it) covers part of the screen. */
  keyboard: boolean;
};

/**
 * The area below a bar `barHeight` pixels tall at the top of the page: from the bar's bottom
 * (or the top of what is visible, when the browser scrolled the bar away) to the bottom of what
 * is visible.
 */
export function visibleArea(barHeight: number, vv: { offsetTop: number; height: number }, innerHeight: number): VisibleArea {
  const top = Math.max(barHeight, vv.offsetTop);
  const bottom = vv.offsetTop + vv.height;
  return { top, height: Math.max(0, bottom - top), keyboard: innerHeight - vv.height > 120 };
}

export function useVisibleArea(barHeight: number): VisibleArea | null {
  const [area, setArea] = useState<VisibleArea | null>(null);
  useEffect(() => {
    const vv = window.visualViewport;
    if (!vv) return;
    let frame = 0;
    const update = () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        const next = visibleArea(barHeight, vv, window.innerHeight);
        setArea((a) => (a && a.top === next.top && a.height === next.height && a.keyboard === next.keyboard ? a : next));
      });
    };
    update();
    vv.addEventListener('resize', update);
    vv.addEventListener('scroll', update);
    window.addEventListener('resize', update);
    return () => {
      cancelAnimationFrame(frame);
      vv.removeEventListener('resize', update);
      vv.removeEventListener('scroll', update);
      window.removeEventListener('resize', update);
    };
  }, [barHeight]);
  return area;
}
