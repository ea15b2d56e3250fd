// How a channel's stream comes in, on the dashboard's Stream tab: the SRT URL an encoder
// calls (next to the RTMP server and key), and the "Source & SRT" card: push from an encoder
// (with an optional SRT passphrase) or pull from an RTSP camera. Passphrase and camera login
// are write-only: the server says whether one is set, never what it is.
import { useEffect, useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { useSrtIngest } from '../api/ingest';
import {
  ingestPath,
  passphraseProblem,
  pullUrlProblem,
  srtPublishUrl,
  useChannelIngest,
  type ChannelIngest,
  type UpdateChannelIngest,
} from '../api/ingestSettings';
import { keys } from '../api/queries';
import { Confirm, CopyField, ErrorState, Field, Loading } from '../components/States';
import { TonePill, pullWords } from '../components/streamState';
import { useToast } from '../components/Toasts';
import { fieldErrors, focusFirstError } from './Auth';

type Errors = Record<string, string | undefined>;

/** What stands in for the key where it is not known (it is shown once, when created or rotated). */
export const MASK = '••••••••';

/**
 * The SRT URL for the encoder. With `streamKey` (just created or rotated) it is complete and
 * copyable, like the key beside it; without, the key is masked, as the key field is.
 */
export function SrtSetup({ id, slug, streamKey }: { id: string; slug: string; streamKey?: string }) {
  const toast = useToast();
  const srt = useSrtIngest();
  const ingest = useChannelIngest(slug);
  const hintId = `${id}-hint`;
  return (
    <>
      {streamKey ? (
        <CopyField id={id} label="SRT URL" value={srtPublishUrl(srt, streamKey)} onCopied={() => toast.show('SRT URL copied', 'success')} />
      ) : (
        <div className="field">
          <label htmlFor={id}>SRT URL</label>
          <div className="copy-field">
            <input id={id} readOnly disabled value={srtPublishUrl(srt, MASK)} aria-describedby={hintId} />
          </div>
        </div>
      )}
      <div className="hint small muted" id={hintId}>
        {!streamKey && <>Your stream key is masked: the full URL is shown once with the key, when it is created or rotated. </>}
        In OBS, paste the whole URL into <strong>Server</strong> and leave <strong>Stream Key</strong> empty. With ffmpeg, quote it as one
        argument (<code>-f mpegts 'srt://…'</code>).
        {ingest.data?.srt_passphrase_set && (
          <p className="banner warn" style={{ margin: '8px 0 0' }} data-testid="srt-passphrase-hint">
            Encrypted SRT is on: add <code>&amp;passphrase=</code> and your passphrase to the end of the URL. It is never shown here; if it is lost, set a new one
            under Source &amp; SRT.
          </p>
        )}
      </div>
    </>
  );
}

/** A banner for the OBS card when encoders would be refused (the channel pulls a camera). */
export function PullingNotice({ slug }: { slug: string }) {
  const ingest = useChannelIngest(slug);
  if (ingest.data?.source !== 'pull') return null;
  return (
    <p className="banner warn" role="note">
      This channel pulls its video from a camera: encoders are refused until you switch the source back to Push below.
    </p>
  );
}

type SourceForm = {
  source: 'push' | 'pull';
  pull_url: string;
  pull_transport: 'tcp' | 'udp';
  pull_always_on: boolean;
  pull_username: string;
  pull_password: string;
};

const formOf = (i: ChannelIngest): SourceForm => ({
  source: i.source,
  pull_url: i.pull_url ?? '',
  pull_transport: i.pull_transport,
  pull_always_on: i.pull_always_on,
  pull_username: '',
  pull_password: '',
});

const SOURCE_ORDER = ['source', 'pull_url', 'pull_username', 'pull_password', 'pull_transport', 'pull_always_on'];
const fid = (f: string) => `ingest-${f}`;

/** The error, else the hint, that describes a field (ids as `Field` draws them). */
const describedBy = (f: string, errors: Errors, hint = false) => (errors[f] ? `${fid(f)}-error` : hint ? `${fid(f)}-hint` : undefined);

/** Sends a change and puts the answer in the cache. */
function useSaveIngest(slug: string) {
  const qc = useQueryClient();
  return (body: UpdateChannelIngest) => api<ChannelIngest>(ingestPath(slug), { method: 'PUT', body, auth: true }).then((saved) => {
    qc.setQueryData(keys.ingestSettings(slug), saved);
    return saved;
  });
}

export function SourceCard({ slug }: { slug: string }) {
  const q = useChannelIngest(slug);
  return (
    <section className="card" aria-labelledby="source-h">
      <h3 id="source-h" style={{ marginTop: 0 }}>
        Source &amp; SRT
      </h3>
      {q.isPending ? <Loading label="Loading the source settings" /> : q.isError ? <ErrorState error={q.error} retry={() => q.refetch()} /> : <SourceSettings key={slug} slug={slug} ingest={q.data} />}
    </section>
  );
}

function SourceSettings({ slug, ingest }: { slug: string; ingest: ChannelIngest }) {
  // The form starts from the server's values; a refetch (the pull state, every 5 s) leaves
  // what is being typed alone, a save puts the saved values back.
  const [form, setForm] = useState<SourceForm>(() => formOf(ingest));
  const [errors, setErrors] = useState<Errors>({});
  const [clearLogin, setClearLogin] = useState(false);
  const toast = useToast();
  const put = useSaveIngest(slug);
  const show = (errs: Errors) => {
    setErrors(errs);
    focusFirstError(errs, SOURCE_ORDER, fid);
  };
  const save = useMutation({
    mutationFn: put,
    onSuccess: (saved) => {
      setForm(formOf(saved));
      setErrors({});
      toast.show(saved.source === 'pull' ? 'Source saved: the server pulls your camera' : 'Source saved: encoders push to you', 'success');
    },
    onError: (e) => show(fieldErrors(e, SOURCE_ORDER)),
  });
  const clear = useMutation({
    mutationFn: () => put({ pull_username: '', pull_password: '' }),
    onSuccess: () => toast.show('Camera login cleared', 'success'),
    onError: (e) => show(fieldErrors(e, SOURCE_ORDER)),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (form.source === 'push') return save.mutate({ source: 'push' });
    const problems: Errors = {};
    const url = pullUrlProblem(form.pull_url);
    if (url) problems.pull_url = url;
    if (form.pull_password && !form.pull_username) problems.pull_username = 'a camera password needs its user name';
    else if (form.pull_username.includes(':')) problems.pull_username = "the user name may not contain ':'";
    if (Object.keys(problems).length) return show(problems);
    const body: UpdateChannelIngest = {
      source: 'pull',
      pull_url: form.pull_url.trim(),
      pull_transport: form.pull_transport,
      pull_always_on: form.pull_always_on,
    };
    // Blank login fields keep the stored login; "Clear" removes it.
    if (form.pull_username || form.pull_password) Object.assign(body, { pull_username: form.pull_username, pull_password: form.pull_password });
    save.mutate(body);
  };
  const set = <K extends keyof SourceForm>(k: K, v: SourceForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const pulling = form.source === 'pull';
  return (
    <>
      <form onSubmit={submit} noValidate aria-label="Stream source">
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        <fieldset className="plain-fieldset" id={fid('source')} tabIndex={-1}>
          <legend>Where your stream comes from</legend>
          <label className="check">
            <input type="radio" name="ingest-source" value="push" checked={!pulling} onChange={() => set('source', 'push')} />
            <span>
              Push from an encoder
              <span className="hint">OBS, ffmpeg or a hardware encoder connects with your stream key, over RTMP or SRT.</span>
            </span>
          </label>
          <label className="check">
            <input type="radio" name="ingest-source" value="pull" checked={pulling} onChange={() => set('source', 'pull')} />
            <span>
              Pull from an IP camera (RTSP)
              <span className="hint">The server connects to the camera and takes its stream; encoders are refused meanwhile.</span>
            </span>
          </label>
        </fieldset>
        {pulling && (
          <>
            {ingest.source === 'pull' && ingest.pull_state && <PullStateView state={ingest.pull_state} alwaysOn={ingest.pull_always_on} />}
            <Field id={fid('pull_url')} label="Camera URL" error={errors.pull_url} hint="rtsp://host[:port]/path, e.g. rtsp://192.168.1.20:554/stream1; the login goes below, not in the URL.">
              <input
                id={fid('pull_url')}
                type="url"
                inputMode="url"
                placeholder="rtsp://"
                autoComplete="off"
                value={form.pull_url}
                onChange={(e) => set('pull_url', e.target.value)}
                aria-invalid={Boolean(errors.pull_url)}
                aria-describedby={describedBy('pull_url', errors, true)}
              />
            </Field>
            <fieldset className="plain-fieldset">
              <legend>Camera login</legend>
              {ingest.pull_has_credentials && (
                <div className="row" style={{ marginBottom: 8 }}>
                  <span className="pill ok" data-testid="pull-login-saved">
                    Saved
                  </span>
                  <span className="muted small grow">A login is stored (never shown). Fill both fields to replace it.</span>
                  <button type="button" className="danger" onClick={() => setClearLogin(true)} disabled={clear.isPending}>
                    Clear login…
                  </button>
                </div>
              )}
              <div className="pair">
                <Field id={fid('pull_username')} label="User name" error={errors.pull_username}>
                  <input
                    id={fid('pull_username')}
                    autoComplete="off"
                    value={form.pull_username}
                    onChange={(e) => set('pull_username', e.target.value)}
                    aria-invalid={Boolean(errors.pull_username)}
                    aria-describedby={describedBy('pull_username', errors)}
                    maxLength={256}
                  />
                </Field>
                <Field id={fid('pull_password')} label="Password" error={errors.pull_password}>
                  <input
                    id={fid('pull_password')}
                    type="password"
                    autoComplete="new-password"
                    value={form.pull_password}
                    onChange={(e) => set('pull_password', e.target.value)}
                    aria-invalid={Boolean(errors.pull_password)}
                    aria-describedby={describedBy('pull_password', errors)}
                    maxLength={256}
                  />
                </Field>
              </div>
            </fieldset>
            <fieldset className="plain-fieldset" aria-describedby={errors.pull_transport ? `${fid('pull_transport')}-error` : undefined}>
              <legend>Transport</legend>
              <label className="check">
                <input type="radio" name="ingest-transport" checked={form.pull_transport === 'tcp'} onChange={() => set('pull_transport', 'tcp')} />
                <span>
                  TCP<span className="hint">Works through most networks and firewalls; the usual choice.</span>
                </span>
              </label>
              <label className="check">
                <input type="radio" name="ingest-transport" checked={form.pull_transport === 'udp'} onChange={() => set('pull_transport', 'udp')} />
                <span>
                  UDP<span className="hint">Less delay on a good local network; lost packets are lost.</span>
                </span>
              </label>
              {errors.pull_transport && (
                <div className="form-error" id={`${fid('pull_transport')}-error`} role="alert">
                  {errors.pull_transport}
                </div>
              )}
            </fieldset>
            <fieldset className="plain-fieldset">
              <legend>When to pull</legend>
              <label className="check">
                <input type="radio" name="ingest-always" checked={form.pull_always_on} onChange={() => set('pull_always_on', true)} />
                <span>
                  Always on<span className="hint">The channel is live whenever the camera is reachable; recordings and restreams run all the time.</span>
                </span>
              </label>
              <label className="check">
                <input type="radio" name="ingest-always" checked={!form.pull_always_on} onChange={() => set('pull_always_on', false)} />
                <span>
                  Only while someone watches<span className="hint">The camera is pulled when a viewer opens the channel, and let go a while after the last one leaves.</span>
                </span>
              </label>
            </fieldset>
          </>
        )}
        <button className="primary" type="submit" disabled={save.isPending}>
          {save.isPending ? 'Saving…' : 'Save source'}
        </button>
      </form>
      {!pulling && <SrtPassphrase slug={slug} set={ingest.srt_passphrase_set} />}
      {clearLogin && (
        <Confirm
          title="Clear the camera login?"
          confirmLabel="Clear login"
          danger
          onCancel={() => setClearLogin(false)}
          onConfirm={() => {
            setClearLogin(false);
            clear.mutate();
          }}
        >
          <p>The stored user name and password are deleted; a camera that needs them refuses the next pull.</p>
        </Confirm>
      )}
    </>
  );
}

function PullStateView({ state, alwaysOn }: { state: NonNullable<ChannelIngest['pull_state']>; alwaysOn: boolean }) {
  const w = pullWords(state.state, alwaysOn);
  return (
    <div className="field" aria-live="polite" data-testid="pull-state">
      <div className="row">
        <span>Camera:</span>
        <TonePill text={w.text} tone={w.tone} />
      </div>
      {state.last_error && (
        <p className="small last-error" style={{ margin: '4px 0 0' }}>
          {state.state === 'held' ? 'Why: ' : 'Last error: '}
          <code>{state.last_error}</code>
        </p>
      )}
    </div>
  );
}

function SrtPassphrase({ slug, set: isSet }: { slug: string; set: boolean }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [formError, setFormError] = useState<string | undefined>();
  const [confirmOff, setConfirmOff] = useState(false);
  const toast = useToast();
  const put = useSaveIngest(slug);
  const id = fid('srt_passphrase');
  // Another channel: nothing typed for this one.
  useEffect(() => setValue(''), [slug]);
  const onError = (e: unknown) => {
    const errs = fieldErrors(e, ['srt_passphrase']);
    setError(errs.srt_passphrase);
    setFormError(errs.form);
    if (errs.srt_passphrase) focusFirstError(errs, ['srt_passphrase'], fid);
  };
  const save = useMutation({
    mutationFn: (p: string | null) => put({ srt_passphrase: p }),
    onSuccess: (saved) => {
      setValue('');
      setError(undefined);
      setFormError(undefined);
      toast.show(saved.srt_passphrase_set ? 'SRT passphrase saved: encoders must use it' : 'SRT encryption turned off', 'success');
    },
    onError,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const problem = passphraseProblem(value);
    setFormError(undefined);
    setError(problem ?? undefined);
    if (problem) return focusFirstError({ srt_passphrase: problem }, ['srt_passphrase'], fid);
    save.mutate(value);
  };
  return (
    <form onSubmit={submit} noValidate aria-label="SRT encryption" style={{ marginTop: 18 }}>
      <h4 style={{ margin: '0 0 8px' }}>SRT encryption</h4>
      <p className="row" data-testid="srt-encryption">
        {isSet ? (
          <>
            <span className="pill ok">Encrypted SRT is on</span>
            <span className="muted small">SRT encoders must send the passphrase; RTMP is not affected.</span>
          </>
        ) : (
          <>
            <span className="pill">Off</span>
            <span className="muted small">Set a passphrase to require encrypted SRT.</span>
          </>
        )}
      </p>
      {formError && (
        <p className="form-error" role="alert">
          {formError}
        </p>
      )}
      <Field id={id} label={isSet ? 'New SRT passphrase' : 'SRT passphrase'} error={error} hint="10 to 79 characters. Keep it somewhere safe: it is never shown again.">
        <input
          id={id}
          type="password"
          autoComplete="new-password"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          aria-invalid={Boolean(error)}
          aria-describedby={error ? `${id}-error` : `${id}-hint`}
          maxLength={79}
        />
      </Field>
      <div className="row">
        <button className="primary" type="submit" disabled={save.isPending}>
          {isSet ? 'Change passphrase' : 'Set passphrase'}
        </button>
        {isSet && (
          <button type="button" className="danger" onClick={() => setConfirmOff(true)} disabled={save.isPending}>
            Turn encryption off…
          </button>
        )}
      </div>
      {confirmOff && (
        <Confirm
          title="Turn SRT encryption off?"
          confirmLabel="Turn off"
          danger
          onCancel={() => setConfirmOff(false)}
          onConfirm={() => {
            setConfirmOff(false);
            save.mutate(null);
          }}
        >
          <p>The passphrase is deleted. Encoders that still send it must drop it from their URL to connect.</p>
        </Confirm>
      )}
    </form>
  );
}
