// Loading API data into components: useAsync runs a loader, re-runs it when its inputs change,
// every `refreshMs` while the tab is visible, and on reload(); stale answers are dropped.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

export function useAsync<T>(load: () => Promise<T>, inputs: unknown[], refreshMs = 0): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((previous) => ({ ...previous, loading: true }));
    loadRef.current().then(
      (data) => mine === generation.current && setState({ data, loading: false }),
      (error: unknown) => mine === generation.current && setState((previous) => ({ data: previous.data, error, loading: false })),
    );
  }, []);

  useEffect(() => {
    setState({ loading: true });
    run();
    if (refreshMs <= 0) return () => void ++generation.current;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') run();
    }, refreshMs);
    return () => {
      clearInterval(timer);
      ++generation.current;
    };
  }, inputs); // `load` may change every render: only `inputs` say when to load again

  return { data: state.data, error: state.error, loading: state.loading, reload: run };
}
