// "Report": a button that opens a small dialog (reason, text, submit) and then says thanks.
// Used on chat messages, the channel page, and video and clip pages. Signed-out users are sent
// to sign in; a duplicate report is thanked the same way (the server counts it once).
import { useState, type FormEvent, type ReactNode } from 'react';
import { useLocation, useNavigate } from 'react-router-dom';
import { ApiError, api, errorMessage } from '../api/client';
import type { ReportReceipt } from '../api/generated/ReportReceipt';
import { useMe } from '../api/session';
import { MAX_DETAILS, REASONS, type ReportTarget, reportRequest } from '../admin/reports';

export function ReportButton({ target, className, children }: { target: ReportTarget; className?: string; children?: ReactNode }) {
  const me = useMe();
  const navigate = useNavigate();
  const location = useLocation();
  const [open, setOpen] = useState(false);
  return (
    <>
      <button
        type="button"
        className={className ?? 'ghost'}
        aria-label={`Report ${target.label}`}
        title="Report"
        onClick={() => (me ? setOpen(true) : navigate('/login', { state: { from: location.pathname + location.search } }))}
      >
        {children ?? 'Report'}
      </button>
      {open && <ReportDialog target={target} onClose={() => setOpen(false)} />}
    </>
  );
}

export function ReportDialog({ target, onClose }: { target: ReportTarget; onClose: () => void }) {
  const [reason, setReason] = useState('');
  const [details, setDetails] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const req = reportRequest(target, reason, details);
    if ('problem' in req) return setProblem(req.problem);
    setBusy(true);
    setProblem(null);
    try {
      await api<ReportReceipt>('/reports', { method: 'POST', body: req, auth: true });
      setSent(true);
    } catch (err) {
      setProblem(
        err instanceof ApiError && err.status === 429
          ? `You have sent many reports just now. Try again in ${Math.ceil((err.retryAfter ?? 60) / 60)} min.`
          : errorMessage(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="modal-back" onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      {sent ? (
        <div className="modal" role="dialog" aria-modal="true" aria-labelledby="report-title">
          <h2 id="report-title" style={{ marginTop: 0 }}>
            Thanks, we'll review it
          </h2>
          <p className="muted">Our moderators look at every report. You will get a notification when they have decided.</p>
          <div className="row" style={{ justifyContent: 'flex-end' }}>
            <button className="primary" onClick={onClose} autoFocus>
              Close
            </button>
          </div>
        </div>
      ) : (
        <form className="modal" role="dialog" aria-modal="true" aria-labelledby="report-title" onSubmit={submit} noValidate>
          <h2 id="report-title" style={{ marginTop: 0 }}>
            Report {target.label}
          </h2>
          {problem && (
            <p className="form-error" role="alert">
              {problem}
            </p>
          )}
          <label htmlFor="report-reason">Reason</label>
          <select id="report-reason" value={reason} onChange={(e) => setReason(e.target.value)} required>
            <option value="">Choose…</option>
            {REASONS.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
          {reason === 'copyright' && (
            <p className="muted small">
              Own the rights? A formal notice goes through <a href="/dmca">/dmca</a>.
            </p>
          )}
          <label htmlFor="report-details">What is wrong?{reason === 'other' ? '' : ' (optional)'}</label>
          <textarea id="report-details" maxLength={MAX_DETAILS} value={details} onChange={(e) => setDetails(e.target.value)} />
          <div className="row" style={{ justifyContent: 'flex-end', marginTop: 16 }}>
            <button type="button" onClick={onClose} autoFocus>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={busy}>
              Send report
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
