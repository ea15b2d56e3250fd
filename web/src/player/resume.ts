// "Resume where you stopped": the last position in each video, kept in localStorage.

const KEY = (id: string) => `streamhall.resume.${id}`;

/** Offered only past this many seconds: a few seconds in is as good as the start. */
export const RESUME_MIN_SECS = 10;
/** Not offered this close to the end: that video was watched. */
export const RESUME_END_SECS = 15;

type Store = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** Whether `position` in a video of `duration` seconds is worth resuming from. */
export function worthResuming(position: number, duration: number): boolean {
  if (!Number.isFinite(position) || position <= RESUME_MIN_SECS) return false;
  return !(duration > 0) || position < duration - RESUME_END_SECS;
}

/** Remembers where the viewer is; a position near the start or the end forgets it instead. */
export function savePosition(id: string, position: number, duration: number, store: Store = localStorage): void {
  try {
    if (worthResuming(position, duration)) store.setItem(KEY(id), String(Math.floor(position)));
    else store.removeItem(KEY(id));
  } catch {
    // Storage full or disabled: resuming is a nicety.
  }
}

/** Where to offer to resume `id`, or null. */
export function resumePosition(id: string, duration: number, store: Store = localStorage): number | null {
  let raw: string | null = null;
  try {
    raw = store.getItem(KEY(id));
  } catch {
    return null;
  }
  const p = raw == null ? NaN : Number(raw);
  return worthResuming(p, duration) ? p : null;
}
