// The one way the app talks to the REST API: JSON in and out, the bearer token attached,
// errors as `ApiError` with the server's stable code and the field it is about.
import { formatDuration } from '../format';
import type { ErrorBody } from './generated/ErrorBody';
import type { FieldProblem } from './generated/FieldProblem';
import type { SuspensionInfo } from './generated/SuspensionInfo';
import { tokens } from './tokens';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  /** Every invalid field of a 422 (the first is `field`). */
  readonly fields: FieldProblem[];
  readonly requestId?: string;
  readonly retryAfter?: number;
  /** For `account_suspended`: why and until when. */
  readonly suspension?: SuspensionInfo;

  constructor(status: number, body: Partial<ErrorBody> & { suspension?: SuspensionInfo }, retryAfter?: number) {
    super(body.message ?? `request failed (${status})`);
    this.status = status;
    this.code = body.error ?? 'http_error';
    this.field = body.field;
    this.fields = body.fields ?? (body.field ? [{ field: body.field, message: this.message }] : []);
    this.requestId = body.request_id;
    this.retryAfter = retryAfter;
    this.suspension = body.suspension;
  }
}

export const API = '/api/v1';

type Options = {
  method?: string;
  body?: unknown;
  /** Send the bearer token (and refresh it once on a 401). Default: when signed in. */
  auth?: boolean;
  signal?: AbortSignal;
};

export async function api<T>(path: string, opts: Options = {}): Promise<T> {
  const send = async (token: string | null) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      return await fetch(API + path, {
        method: opts.method ?? 'GET',
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw new ApiError(0, { error: 'network', message: 'Cannot reach the server. Check your connection.' });
    }
  };
  const useAuth = opts.auth ?? tokens.signedIn();
  let res = await send(useAuth ? await tokens.access() : null);
  if (res.status === 401 && useAuth && tokens.signedIn()) {
    // The access token expired or was revoked: refresh once, then retry.
    const fresh = await tokens.access({ force: true });
    if (fresh) res = await send(fresh);
  }
  return parse<T>(res);
}

export async function parse<T>(res: Response): Promise<T> {
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const retry = Number(res.headers.get('retry-after')) || undefined;
    throw new ApiError(res.status, (body as Partial<ErrorBody>) ?? {}, retry);
  }
  return body as T;
}

/** A message to show for any error thrown by `api`. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'internal' && e.requestId) return `${e.message} (request ${e.requestId})`;
    if (e.code === 'rate_limited' && e.retryAfter) return `Too many attempts: try again in ${formatDuration(e.retryAfter)}.`;
    return e.message;
  }
  return e instanceof Error ? e.message : String(e);
}
