// The dashboard's webhooks panel (channel owners): add an endpoint for stream.online and
// stream.offline, see its secret once, its last delivery and its delivery log, send a test
// event, delete it. Lazy-loaded with the channel settings tab.
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { CreateWebhook } from '../api/generated/CreateWebhook';
import type { CreatedWebhook } from '../api/generated/CreatedWebhook';
import type { DeliveryDto } from '../api/generated/DeliveryDto';
import type { WebhookDto } from '../api/generated/WebhookDto';
import { keys } from '../api/queries';
import { Confirm, CopyField, ErrorState, Field, Loading, timeAgo } from '../components/States';
import { useToast } from '../components/Toasts';
import { fieldErrors } from './Auth';

export const EVENTS = [
  { id: 'stream.online', label: 'Stream went live (stream.online)' },
  { id: 'stream.offline', label: 'Stream ended (stream.offline)' },
] as const;

const path = (slug: string) => `/channels/${encodeURIComponent(slug)}/webhooks`;

/** A delivery's state (`pending`, `sending`, `delivered`, `failed`) as a pill colour. */
const TONES: Partial<Record<string, 'ok' | 'warn' | 'bad'>> = { delivered: 'ok', failed: 'bad', pending: 'warn', sending: 'warn' };

export function deliveryTone(state: string): 'ok' | 'warn' | 'bad' | undefined {
  return TONES[state];
}

function DeliveryPill({ d }: { d: DeliveryDto }) {
  const tone = deliveryTone(d.state);
  return (
    <span className={`pill${tone ? ` ${tone}` : ''}`} title={d.last_error ?? undefined}>
      {d.state}
      {d.last_status != null ? ` · HTTP ${d.last_status}` : ''}
    </span>
  );
}

export default function Webhooks({ slug }: { slug: string }) {
  const toast = useToast();
  const hooks = useQuery({
    queryKey: keys.webhooks(slug),
    queryFn: ({ signal }) => api<WebhookDto[]>(path(slug), { signal, auth: true }),
    refetchInterval: 15_000,
  });
  const [secret, setSecret] = useState<CreatedWebhook | null>(null);
  return (
    <section className="card" aria-labelledby="webhooks-h">
      <h3 id="webhooks-h" style={{ marginTop: 0 }}>
        Webhooks
      </h3>
      <p className="muted small">
        streamhall POSTs a JSON event to each URL when this channel goes live or ends, and retries failed deliveries. Each request carries{' '}
        <code>X-Streamhall-Signature: sha256=…</code>, the HMAC-SHA256 of the body under the webhook's secret.
      </p>
      {secret && (
        <div className="card" role="region" aria-label="Your webhook secret" style={{ borderColor: 'var(--warn)', marginBottom: 14 }}>
          <p>
            <strong>This is the only time the secret is shown.</strong> Use it to check the signature of every request to {secret.webhook.url}.
          </p>
          <CopyField id="webhook-secret" label="Signing secret" value={secret.secret} onCopied={() => toast.show('Secret copied', 'success')} />
          <button className="primary" onClick={() => setSecret(null)}>
            I have saved it
          </button>
        </div>
      )}
      {hooks.isPending ? (
        <Loading label="Loading webhooks" />
      ) : hooks.isError ? (
        <ErrorState error={hooks.error} retry={() => hooks.refetch()} />
      ) : hooks.data.length === 0 ? (
        <p className="muted">No webhook yet.</p>
      ) : (
        <ul className="webhook-list">
          {hooks.data.map((h) => (
            <WebhookRow key={h.id} slug={slug} hook={h} />
          ))}
        </ul>
      )}
      <AddWebhook slug={slug} onCreated={setSecret} />
    </section>
  );
}

function AddWebhook({ slug, onCreated }: { slug: string; onCreated: (c: CreatedWebhook) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<string[]>(EVENTS.map((e) => e.id));
  const [errors, setErrors] = useState<Record<string, string | undefined>>({});
  const qc = useQueryClient();
  const toast = useToast();
  const create = useMutation({
    mutationFn: (body: CreateWebhook) => api<CreatedWebhook>(path(slug), { method: 'POST', body, auth: true }),
    onSuccess: (c) => {
      qc.invalidateQueries({ queryKey: keys.webhooks(slug) });
      setUrl('');
      toast.show('Webhook added', 'success');
      onCreated(c);
    },
    onError: (e) => setErrors(fieldErrors(e, ['url', 'events'])),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setErrors({});
    if (!/^https?:\/\/\S+$/i.test(url.trim())) return setErrors({ url: 'Enter an http:// or https:// URL' });
    if (events.length === 0) return setErrors({ events: 'Choose at least one event' });
    create.mutate({ url: url.trim(), events });
  };
  return (
    <form onSubmit={submit} noValidate aria-labelledby="add-webhook-h" className="add-webhook">
      <h4 id="add-webhook-h">Add a webhook</h4>
      {errors.form && (
        <p className="form-error" role="alert">
          {errors.form}
        </p>
      )}
      <Field id="webhook-url" label="Payload URL" error={errors.url} hint="Where the events are POSTed, e.g. https://example.com/hooks/streamhall">
        <input
          id="webhook-url"
          type="url"
          inputMode="url"
          placeholder="https://"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          aria-invalid={Boolean(errors.url)}
          aria-describedby={errors.url ? 'webhook-url-error' : 'webhook-url-hint'}
          autoComplete="off"
        />
      </Field>
      <fieldset className="plain-fieldset" aria-describedby={errors.events ? 'webhook-events-error' : undefined}>
        <legend>Events</legend>
        {EVENTS.map((ev) => (
          <label className="check" key={ev.id}>
            <input
              type="checkbox"
              checked={events.includes(ev.id)}
              onChange={(e) => setEvents(e.target.checked ? [...events, ev.id] : events.filter((x) => x !== ev.id))}
            />
            <span>{ev.label}</span>
          </label>
        ))}
        {errors.events && (
          <div className="form-error" id="webhook-events-error" role="alert">
            {errors.events}
          </div>
        )}
      </fieldset>
      <button className="primary" type="submit" disabled={create.isPending}>
        {create.isPending ? 'Adding…' : 'Add webhook'}
      </button>
    </form>
  );
}

function WebhookRow({ slug, hook: h }: { slug: string; hook: WebhookDto }) {
  const [log, setLog] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const qc = useQueryClient();
  const toast = useToast();
  const ping = useMutation({
    mutationFn: () => api<void>(`${path(slug)}/${h.id}/ping`, { method: 'POST', auth: true }),
    onSuccess: () => {
      toast.show('Test event queued: its delivery shows in the log', 'success');
      qc.invalidateQueries({ queryKey: keys.deliveries(slug, h.id) });
      window.setTimeout(() => qc.invalidateQueries({ queryKey: keys.webhooks(slug) }), 2000);
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  const del = useMutation({
    mutationFn: () => api<void>(`${path(slug)}/${h.id}`, { method: 'DELETE', auth: true }),
    onSuccess: () => {
      qc.invalidateQueries({ queryKey: keys.webhooks(slug) });
      toast.show('Webhook deleted', 'success');
    },
    onError: (e) => toast.show(errorMessage(e), 'error'),
  });
  return (
    <li className="webhook">
      <div className="row">
        <code className="grow ellipsis" title={h.url}>
          {h.url}
        </code>
        <button onClick={() => ping.mutate()} disabled={ping.isPending} aria-label={`Send a test event to ${h.url}`}>
          Send test
        </button>
        <button aria-expanded={log} aria-controls={`deliveries-${h.id}`} onClick={() => setLog((o) => !o)}>
          {log ? 'Hide deliveries' : 'Deliveries'}
        </button>
        <button className="danger" onClick={() => setConfirm(true)} disabled={del.isPending} aria-label={`Delete the webhook ${h.url}`}>
          Delete…
        </button>
      </div>
      <div className="row small muted" style={{ marginTop: 4 }}>
        {h.events.map((e) => (
          <span key={e} className="pill">
            {e}
          </span>
        ))}
        <span>added {timeAgo(h.created_at)}</span>
        <span>
          last delivery: {h.last_delivery ? <DeliveryPill d={h.last_delivery} /> : 'none yet'}
          {h.last_delivery && ` ${timeAgo(h.last_delivery.updated_at)}`}
        </span>
      </div>
      {log && <Deliveries slug={slug} id={h.id} />}
      {confirm && (
        <Confirm
          title="Delete this webhook?"
          confirmLabel="Delete webhook"
          danger
          onCancel={() => setConfirm(false)}
          onConfirm={() => {
            setConfirm(false);
            del.mutate();
          }}
        >
          <p>
            <code>{h.url}</code> stops receiving events at once, and its delivery log is removed.
          </p>
        </Confirm>
      )}
    </li>
  );
}

function Deliveries({ slug, id }: { slug: string; id: number }) {
  const q = useQuery({
    queryKey: keys.deliveries(slug, id),
    queryFn: ({ signal }) => api<DeliveryDto[]>(`${path(slug)}/${id}/deliveries`, { signal, auth: true }),
    refetchInterval: 5_000,
  });
  return (
    <div id={`deliveries-${id}`} className="deliveries">
      {q.isPending ? (
        <Loading label="Loading deliveries" />
      ) : q.isError ? (
        <ErrorState error={q.error} retry={() => q.refetch()} />
      ) : q.data.length === 0 ? (
        <p className="muted small">No delivery yet. Send a test event, or go live.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">Deliveries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">State</th>
                <th scope="col">Attempts</th>
                <th scope="col">Created</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((d) => (
                <tr key={d.id}>
                  <td>
                    <code>{d.event}</code>
                  </td>
                  <td>
                    <DeliveryPill d={d} />
                  </td>
                  <td className="num">{d.attempts}</td>
                  <td>
                    <time dateTime={d.created_at}>{timeAgo(d.created_at)}</time>
                  </td>
                  <td className="small">
                    {d.last_error && <div style={{ color: 'var(--bad)' }}>{d.last_error}</div>}
                    {d.state === 'pending' && d.attempts > 0 && <div className="muted">next attempt {new Date(d.next_attempt_at).toLocaleTimeString()}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
