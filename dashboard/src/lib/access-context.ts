import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

import type { Access } from './access';
import { allows } from './access';

export const AccessContext = createContext<Access>({ scopes: null });

/** Whether the signed-in key may do `scope` (true when its scopes are not known). */
export function useAllows(scope: string): boolean {
  return allows(useContext(AccessContext), scope);
}
