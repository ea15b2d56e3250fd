import { Link } from 'react-router-dom';

export function NotFound({ what = 'page' }: { what?: string }) {
  return (
    <div className="empty">
      <h1>This {what} does not exist</h1>
      <p className="muted">The link may be broken, or the {what} may have been removed.</p>
      <Link className="button primary" to="/">
        Browse live channels
      </Link>
    </div>
  );
}

export function Terms() {
  return (
    <article className="prose">
      <h1>Terms of service</h1>
      <p>These terms govern your use of this streamhall server. By creating an account you accept them.</p>
      <h2>Your account</h2>
      <p>Keep your password and stream keys secret. You are responsible for what is streamed or posted with your account. Rotate a stream key from the dashboard as soon as you think it leaked.</p>
      <h2>Your content</h2>
      <p>You keep the rights to what you stream and write. You grant the operator of this server the right to store, transcode, record and show it to viewers for as long as you keep it here. You must have the rights to everything you broadcast, including music and game footage.</p>
      <h2>Acceptable use</h2>
      <p>Follow the <Link to="/guidelines">content guidelines</Link>. Do not attack, overload or probe the service, do not automate accounts, and do not evade bans or timeouts.</p>
      <h2 id="copyright">Copyright and DMCA takedowns</h2>
      <p>
        If a video or clip here uses your copyrighted work without permission, send a notice with the <Link to="/dmca">copyright notice form</Link>{' '}
        (no account needed): who you are and how to reach you, the work, the addresses of the videos or clips, a statement that you believe in
        good faith the use is not authorized, a statement under penalty of perjury that the notice is accurate and that you may act for the owner,
        and your signature.
      </p>
      <ul>
        <li>
          <strong>Takedown.</strong> An administrator reviews the notice. If it is complete, what it names is taken down: hidden, not deleted, with
          “Taken down after DMCA notice” and the notice's number in its place. Otherwise the notice is rejected.
        </li>
        <li>
          <strong>Notice to the uploader.</strong> The channel's owner is notified in the app (and by email when this server sends email), with
          the notice and how to answer it.
        </li>
        <li>
          <strong>Counter-notice.</strong> If you believe your content was taken down by mistake or misidentification, file a counter-notice from
          the link on the video or clip: your name, address and phone, why, a statement under penalty of perjury, your consent to the court's
          jurisdiction, and your signature. It is sent to the claimant.
        </li>
        <li>
          <strong>Restore.</strong> The content comes back after a waiting period (10 days unless the operator set another), unless the claimant
          tells us first that they have gone to court; then it stays down until the court decides.
        </li>
        <li>
          <strong>Repeat infringers.</strong> Every notice whose takedown stands counts against the uploader's account. The operator may suspend
          or close the accounts of repeat infringers.
        </li>
      </ul>
      <h2>Moderation and termination</h2>
      <p>Channel owners and their moderators may remove messages and ban users from their chat. The operator may end streams, suspend accounts or remove content that breaks these terms, with or without notice.</p>
      <h2>No warranty</h2>
      <p>The service is provided as is. The operator is not liable for interruptions, lost recordings or lost data, to the extent the law allows.</p>
      <h2>Changes</h2>
      <p>The operator may change these terms; continued use after a change means you accept the new terms.</p>
    </article>
  );
}

export function Privacy() {
  return (
    <article className="prose">
      <h1>Privacy</h1>
      <p>This server keeps only what it needs to run the service.</p>
      <h2>What is stored</h2>
      <ul>
        <li>Your account: username, email address, display name, bio, and a password hash (argon2id; the password itself is never stored).</li>
        <li>Sign-in sessions: hashes of refresh tokens, so a session can be revoked.</li>
        <li>Links we email you (password reset, email verification): only a hash of each, and when it was used; a reset link works once, for 30 minutes. Whether and when you confirmed your email address.</li>
        <li>Your channels and their broadcasts (start, end, title, peak viewers).</li>
        <li>Recordings: each broadcast is kept as a video (VOD) with its thumbnail, unless the streamer turns recording off; the streamer may have videos deleted after a number of days. Clips you make are kept with your username as their author.</li>
        <li>Chat messages you post, and moderation actions (deletions, timeouts, bans).</li>
        <li>The channels you follow, your notifications and your notification settings (whether to email you, muted channels).</li>
        <li>For streamers: webhook URLs and their signing secrets, restream destinations and camera logins (keys and passwords stored encrypted).</li>
        <li>Viewing statistics for the channel's owner: viewer counts over time and, per viewer, when they started and stopped watching a broadcast, under a hashed viewer id (see below).</li>
      </ul>
      <p>
        Copyright cases: if you send a <Link to="/dmca">DMCA notice</Link> or a counter-notice, what you write in it (name, email, address and phone,
        statements, signature) is kept as the record of the case, also after you delete your account, and is not part of the data export. A
        counter-notice is sent to the claimant, as the law requires.
      </p>
      <h2>What is not stored</h2>
      <p>Viewer counts use a random id per player or a keyed hash, not your address. Stream keys are stored only as hashes and never written to logs. Request logs do not contain query strings.</p>
      <h2>Your browser</h2>
      <p>The app keeps your session and your theme, volume and latency choices in your browser's local storage. There are no third-party trackers or advertising cookies.</p>
      <h2>Your rights</h2>
      <p>
        You can change your profile under Settings. There you can also download everything listed above that is about you as one JSON file (<strong>Export my data</strong>: profile, sign-ins, channels, broadcasts with their viewing summaries, videos and clips, webhooks and restream destinations without their secrets, follows, notifications and settings, your chat messages and moderation actions), and delete your account (<strong>Delete account</strong>).
      </p>
      <p>
        Deleting your account removes your channels with their videos, clips and recordings, your follows, notifications, settings and sign-ins, at once. Chat messages you wrote stay in their channels' history, shown as from a deleted user; moderation records keep only a number in place of your account.
      </p>
    </article>
  );
}

export function Guidelines() {
  return (
    <article className="prose">
      <h1>Content guidelines</h1>
      <p>These rules apply to streams, titles, descriptions and chat.</p>
      <ul>
        <li><strong>No illegal content</strong>, and nothing that sexualises minors, ever.</li>
        <li><strong>No harassment or hate:</strong> no attacks on people for who they are, no threats, no doxxing.</li>
        <li><strong>No sexual content or nudity</strong>, and no graphic violence or gore shown for its own sake.</li>
        <li><strong>No self-harm</strong> content that encourages or glorifies it.</li>
        <li><strong>No spam or scams:</strong> no misleading titles, no phishing links, no chat flooding.</li>
        <li>
          <strong>Respect copyright:</strong> broadcast only what you have the rights to. Rights holders can send a{' '}
          <Link to="/dmca">DMCA notice</Link>; what it names is taken down, you may answer with a counter-notice, and repeat infringers may lose
          their accounts (<Link to="/terms#copyright">how it works</Link>).
        </li>
        <li><strong>Label mature topics</strong> in your title and category.</li>
      </ul>
      <p>Moderators can delete messages, time out and ban chatters. Administrators can end streams that break these rules.</p>
    </article>
  );
}
