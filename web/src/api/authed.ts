// Files of private videos (thumbnails, sprites, subtitles): the server wants the owner's access
// token on every request, which <img> and <track> cannot send, so they are fetched with it and
// shown from blob URLs.
import { useEffect, useState } from 'react';
import { tokens } from './tokens';

/** `fetch` with the access token when `auth`; an error when the server refuses. */
export async function load(url: string, auth: boolean): Promise<Response> {
  const token = auth ? await tokens.access() : null;
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : undefined);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res;
}

/** `url` itself, or for a private video a blob URL of it fetched with the access token. */
export function useAuthedUrl(url: string | null, auth: boolean): string | null {
  const [blob, setBlob] = useState<string | null>(null);
  useEffect(() => {
    if (!url || !auth) return;
    let made: string | null = null;
    let gone = false;
    load(url, true)
      .then((r) => r.blob())
      .then((b) => {
        if (gone) return;
        made = URL.createObjectURL(b);
        setBlob(made);
      })
      .catch(() => setBlob(null));
    return () => {
      gone = true;
      if (made) URL.revokeObjectURL(made);
      setBlob(null);
    };
  }, [url, auth]);
  return auth ? blob : url;
}
