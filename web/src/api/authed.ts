// Files of private videos (thumbnails, sprites, subtitles): the server wants the owner's access
// token on every request, which <img> and <track> cannot send, so they are fetched with it and
// shown from blob URLs. Files of a channel that is not public are fetched the same way with its
// playback token, once, so a token that runs out later does not break a sprite or a subtitle
// track shown much later.
import { useEffect, useRef, useState } from 'react';
import { tokens } from './tokens';
import { withToken } from './playback';

/** `fetch` with the access token when `auth`; an error when the server refuses. */
export async function load(url: string, auth: boolean): Promise<Response> {
  const token = auth ? await tokens.access() : null;
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : undefined);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res;
}

/**
 * `url` itself, or for a private video a blob URL of it fetched with the access token, or for a
 * channel that is not public (`playbackToken` set) one fetched with the latest token.
 */
export function useAuthedUrl(url: string | null, auth: boolean, playbackToken: string | null = null): string | null {
  const [blob, setBlob] = useState<string | null>(null);
  const token = useRef(playbackToken);
  token.current = playbackToken;
  const fetched = auth || playbackToken != null;
  useEffect(() => {
    if (!url || !fetched) return;
    let made: string | null = null;
    let gone = false;
    load(withToken(url, token.current), auth)
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
  }, [url, auth, fetched]);
  return fetched ? blob : url;
}
