// What a viewer sees in place of the player on a channel that is not public until they may
// watch: a password prompt, or "followers only" with a way to follow (or sign in).
import { useState } from 'react';
import { Link } from 'react-router-dom';
import type { Gate } from '../api/playback';

export function PlaybackGate({
  gate,
  name,
  submitting,
  onPassword,
  follow,
}: {
  gate: Gate;
  name: string;
  submitting: boolean;
  onPassword: (password: string) => void;
  /** The follow button, for a followers-only channel. */
  follow?: React.ReactNode;
}) {
  const [password, setPassword] = useState('');
  if (gate.kind === 'open') return null;
  return (
    <div className="player playback-gate" data-phase={`gate-${gate.kind}`}>
      <div className="offline" role="status">
        <div>
          {gate.kind === 'checking' && <p className="muted">Checking whether you can watch…</p>}
          {gate.kind === 'password' && (
            <form
              className="stack"
              aria-label="Channel password"
              onSubmit={(e) => {
                e.preventDefault();
                if (password) onPassword(password);
              }}
            >
              <span className="pill">Password protected</span>
              <h2>{name}’s stream needs a password</h2>
              <label>
                Password
                <input
                  type="password"
                  autoComplete="off"
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                  aria-invalid={gate.error ? true : undefined}
                  aria-describedby={gate.error ? 'playback-password-error' : undefined}
                  autoFocus
                />
              </label>
              {gate.error && (
                <p className="form-error" role="alert" id="playback-password-error">
                  {gate.error}
                </p>
              )}
              <button className="primary" type="submit" disabled={submitting || !password}>
                {submitting ? 'Checking…' : 'Watch'}
              </button>
            </form>
          )}
          {gate.kind === 'followers' && (
            <>
              <span className="pill">Followers only</span>
              <h2>Only {name}’s followers can watch</h2>
              {gate.signedIn ? (
                <>
                  <p className="muted">Follow to watch.</p>
                  {follow}
                </>
              ) : (
                <p>
                  <Link to="/login">Log in</Link> and follow {name} to watch.
                </p>
              )}
            </>
          )}
          {gate.kind === 'error' && (
            <p className="form-error" role="alert">
              Could not check whether you can watch: {gate.message}
            </p>
          )}
        </div>
      </div>
    </div>
  );
}
