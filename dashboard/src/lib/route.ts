// Hash routing: pages are #/overview, #/keys?api=api_…, #/keys/key_…, … so the server has one
// file to serve (index.html) and every page is a link that can be bookmarked. The hash never
// reaches the server, and never holds a secret.

import { useEffect, useState } from 'preact/hooks';

export interface Route {
  page: string;
  id?: string;
  params: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const [path, query] = hash.replace(/^#\/?/, '').split('?', 2);
  const [page, id] = path.split('/', 2).map(decodeURIComponent);
  return { page: page || 'overview', id: id || undefined, params: new URLSearchParams(query ?? '') };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function href(page: string, id?: string, params?: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params ?? {})) if (value) query.set(name, value);
  const text = query.toString();
  return `#/${page}${id ? `/${encodeURIComponent(id)}` : ''}${text ? `?${text}` : ''}`;
}

export function navigate(to: string): void {
  location.hash = to;
}
