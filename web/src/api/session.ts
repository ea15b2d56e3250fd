import { useSyncExternalStore } from 'react';
import type { Me } from './generated/Me';
import { tokens } from './tokens';

/** The signed-in user, re-rendering on sign-in, sign-out and profile changes. */
export function useMe(): Me | null {
  return useSyncExternalStore(
    (fn) => tokens.subscribe(fn),
    () => tokens.user(),
    () => null,
  );
}
