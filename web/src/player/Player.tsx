// The live player: hls.js (loaded only here) tuned for low latency, with the controls people
// know from Twitch and YouTube Live: play, volume, quality (Auto and each rendition), a
// live-edge badge with the measured latency, a "behind live" jump back to the edge,
// picture-in-picture and fullscreen. Safari plays HLS natively and gets the same controls
// minus the quality menu. With a DVR playlist (`dvr`) a seek bar lets the viewer go back over
// its window; the LIVE button returns to the edge.
//
// What it shows is one phase of the state machine in `machine.ts`: offline, starting, failed
// (the channel's problem in plain words), loading, playing, buffering, network error (message,
// Retry, and a retry with backoff), ended.
import { useCallback, useEffect, useReducer, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';
import type HlsType from 'hls.js';
import { QualityMenu, type Level } from './quality';
import { withToken } from '../api/playback';
import type { StreamStatus } from '../api/generated/StreamStatus';
import { behindLabel, driftSeconds, initialState, isBehind, reduce, retryDelayMs, showLatency, type PlayerState } from './machine';
import { MAX_LATENCY_SEGMENTS, liveHlsConfig, measuredLatency, mediaUrl, networkMessage, withViewerId } from './live';

type Props = {
  src: string;
  title: string;
  /** The streamer's display name, for "X is offline" and "X's stream". */
  name: string;
  status: StreamStatus;
  problem: string | null;
  /** The channel poll's failure, in words, while it fails. */
  apiError: string | null;
  /** Fetch the channel again now (Retry, a fatal error, the end of the stream). */
  refresh: () => void;
  /** What to show while offline; `ended` when the broadcast ended during this visit. */
  offline: (ended: boolean) => ReactNode;
  /** `src` is a DVR master: its window can be sought back over. */
  dvr?: boolean;
  /** More buttons for the control bar (the Clip button). */
  actions?: ReactNode;
  /** `src` is a low-latency (LL-HLS) master. */
  lowLatency?: boolean;
  /** Offered when the stream has low latency: the viewer's choice and how to change it. */
  latency?: LatencyChoice;
  /**
   * The playback token of a channel that is not public: every playlist and segment request
   * carries the latest one (a renewal takes effect at the next request, without a reload).
   */
  token?: string | null;
};

/** Low latency (LL-HLS, about 2 s) or normal (MPEG-TS with the DVR window, for bad connections). */
export type LatencyChoice = { low: boolean; choose: (low: boolean) => void };

export function Player({ src, title, name, status, problem, apiError, refresh: refreshProp, offline, dvr = false, actions, lowLatency = false, latency, token = null }: Props) {
  const [state, dispatch] = useReducer(reduce, undefined, () => initialState(status, problem));
  // A stable callback whatever the caller passes: effects below depend on it.
  const latest = useRef(refreshProp);
  latest.current = refreshProp;
  const refresh = useCallback(() => latest.current(), []);
  useEffect(() => dispatch({ type: 'status', status, problem }), [status, problem]);
  useEffect(() => dispatch(apiError ? { type: 'unreachable', message: apiError } : { type: 'reachable' }), [apiError]);

  // While the stream is coming up or failing, ask about it every 2 s (the page polls every 5).
  useEffect(() => {
    if (state.phase !== 'starting' && state.phase !== 'failed') return;
    const id = window.setInterval(refresh, 2000);
    return () => window.clearInterval(id);
  }, [state.phase, refresh]);

  // The video ended but the channel still says live a moment later: only its rendition ended
  // (dropped by the server to keep up). Telling the machine again makes it load afresh.
  useEffect(() => {
    if (state.phase !== 'ended' || status !== 'live') return;
    const id = window.setTimeout(() => dispatch({ type: 'status', status, problem }), 3000);
    return () => window.clearTimeout(id);
  }, [state.phase, status, problem]);

  if (state.phase === 'offline' || state.phase === 'ended') {
    return <>{offline(state.phase === 'ended')}</>;
  }
  return (
    <LivePlayer
      src={src}
      title={title}
      name={name}
      state={state}
      dispatch={dispatch}
      refresh={refresh}
      dvr={dvr}
      actions={actions}
      lowLatency={lowLatency}
      latencyChoice={latency}
      token={token}
    />
  );
}

/** The DVR window's start and the live edge, in media time. */
type Window = { start: number; end: number };

function LivePlayer({
  src,
  title,
  name,
  state,
  dispatch,
  refresh,
  dvr,
  actions,
  lowLatency,
  latencyChoice,
  token,
}: {
  token: string | null;
  src: string;
  title: string;
  name: string;
  state: PlayerState;
  dispatch: (e: Parameters<typeof reduce>[1]) => void;
  refresh: () => void;
  dvr: boolean;
  actions?: ReactNode;
  lowLatency: boolean;
  latencyChoice?: LatencyChoice;
}) {
  const box = useRef<HTMLDivElement>(null);
  const video = useRef<HTMLVideoElement>(null);
  const hls = useRef<HlsType | null>(null);
  // Read by every request hls.js makes, so a renewed token needs no reload.
  const tokenRef = useRef(token);
  tokenRef.current = token;
  const [levels, setLevels] = useState<Level[]>([]);
  const [selected, setSelected] = useState(-1);
  const [playing, setPlaying] = useState(-1);
  const [paused, setPaused] = useState(true);
  const [muted, setMuted] = useState(false);
  const [volume, setVolume] = useState(() => Number(localStorage.getItem('streamhall.volume') ?? '1'));
  const [latency, setLatency] = useState<number | null>(null);
  const [drift, setDrift] = useState<{ seconds: number; behind: boolean }>({ seconds: 0, behind: false });
  const [menuOpen, setMenuOpen] = useState(false);
  const [dvrWindow, setDvrWindow] = useState<Window | null>(null);
  const [position, setPosition] = useState(0);
  // DVR: the viewer went back on purpose (paused or sought); hls.js must not pull them to live.
  const dvrBack = useRef(false);
  const { phase } = state;
  // hls.js is attached while live and not waiting out a network error; a retry is a fresh one.
  const attach = state.status === 'live' && (phase === 'loading' || phase === 'playing' || phase === 'buffering' || phase === 'blocked');

  useEffect(() => {
    const v = video.current;
    if (!v || !attach) return;
    let destroyed = false;
    const start = () => {
      v.play().catch((e: DOMException) => {
        if (e.name !== 'NotAllowedError') return;
        // Autoplay with sound is blocked until the viewer interacts: start muted.
        v.muted = true;
        setMuted(true);
        v.play().catch(() => dispatch({ type: 'blocked' }));
      });
    };
    (async () => {
      const { default: Hls } = await import('hls.js');
      if (destroyed) return;
      if (!Hls.isSupported()) {
        if (v.canPlayType('application/vnd.apple.mpegurl')) {
          v.src = withToken(withViewerId(src), tokenRef.current);
          start();
        } else dispatch({ type: 'unsupported' });
        return;
      }
      const h = new Hls({
        ...liveHlsConfig(lowLatency),
        xhrSetup: (xhr, url) => {
          const counted = mediaUrl(url, tokenRef.current);
          if (counted !== url) xhr.open('GET', counted, true);
        },
      });
      hls.current = h;
      h.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        setLevels(data.levels.map((l, index) => ({ index, name: l.name ?? '', height: l.height, bitrate: l.bitrate })));
        start();
      });
      h.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => setPlaying(data.level));
      h.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          h.recoverMediaError();
        } else {
          dispatch({ type: 'network_error', message: data.type === Hls.ErrorTypes.NETWORK_ERROR ? networkMessage(data) : `The video could not be played (${data.details}).` });
          // The stream may have ended or failed: ask now rather than at the next poll.
          refresh();
        }
      });
      h.loadSource(src);
      h.attachMedia(v);
    })().catch(() => dispatch({ type: 'network_error', message: 'The player could not be loaded: check your connection.' }));
    return () => {
      destroyed = true;
      hls.current?.destroy();
      hls.current = null;
      setLevels([]);
      setLatency(null);
      setDrift({ seconds: 0, behind: false });
      setDvrWindow(null);
      dvrBack.current = false;
    };
  }, [src, lowLatency, state.load, attach, dispatch, refresh]);

  // Network errors retry on their own, with backoff.
  const [retryAt, setRetryAt] = useState<number | null>(null);
  useEffect(() => {
    if (phase !== 'network') {
      setRetryAt(null);
      return;
    }
    const delay = retryDelayMs(state.attempt);
    setRetryAt(Date.now() + delay);
    const id = window.setTimeout(() => {
      dispatch({ type: 'retry' });
      refresh();
    }, delay);
    return () => window.clearTimeout(id);
  }, [phase, state.attempt, dispatch, refresh]);
  const now = useNow(retryAt != null);

  // Latency and the distance to the live edge, twice a second.
  useEffect(() => {
    if (!attach) return;
    const id = window.setInterval(() => {
      const v = video.current;
      const h = hls.current;
      if (!v) return;
      setLatency(measuredLatency(h?.playingDate, Date.now(), null));
      const d = h?.latestLevelDetails;
      let edge: number | null = null;
      let td = 1;
      let target = 2;
      if (h && d && d.live) {
        edge = d.edge + d.age;
        td = d.targetduration || 1;
        target = h.targetLatency ?? 2 * td;
      } else if (!h && v.seekable.length) {
        // Native HLS (Safari): the seekable end is the edge.
        edge = v.seekable.end(v.seekable.length - 1);
        target = 3;
      }
      if (edge == null || v.currentTime === 0) return;
      if (dvr && v.seekable.length) {
        setDvrWindow({ start: v.seekable.start(0), end: Math.max(edge - target, v.seekable.start(0)) });
        setPosition(v.currentTime);
      }
      const seconds = driftSeconds(edge, v.currentTime, target);
      // For tests and bug reports: seconds past where a live player should be.
      box.current?.setAttribute('data-drift', seconds.toFixed(2));
      setDrift((prev) => ({ seconds, behind: isBehind(prev.behind, seconds, td) }));
    }, 500);
    return () => window.clearInterval(id);
  }, [attach, dvr]);

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    v.volume = volume;
    localStorage.setItem('streamhall.volume', String(volume));
  }, [volume]);

  const selectLevel = useCallback((i: number) => {
    setSelected(i);
    const h = hls.current;
    if (!h) return;
    // currentLevel switches now (flushing what is buffered); -1 hands back to ABR.
    h.currentLevel = i;
  }, []);

  const goLive = () => {
    const v = video.current;
    const h = hls.current;
    if (!v) return;
    dvrBack.current = false;
    if (h) h.config.liveMaxLatencyDurationCount = MAX_LATENCY_SEGMENTS;
    const edge = h?.liveSyncPosition;
    if (edge != null && Number.isFinite(edge)) v.currentTime = edge;
    else if (v.seekable.length) v.currentTime = v.seekable.end(v.seekable.length - 1) - 1;
    v.play().catch(() => dispatch({ type: 'blocked' }));
  };
  const togglePlay = () => {
    const v = video.current;
    if (!v) return;
    // DVR: Play goes on from where it paused; otherwise it jumps to live.
    if (v.paused) {
      if (dvr && dvrBack.current) v.play().catch(() => dispatch({ type: 'blocked' }));
      else goLive();
    } else v.pause();
  };
  /** DVR: to `t` in the window; next to the edge is live again. */
  const seekTo = (t: number) => {
    const v = video.current;
    const h = hls.current;
    if (!v || !dvrWindow) return;
    if (t >= dvrWindow.end - 1) return goLive();
    dvrBack.current = true;
    if (h) h.config.liveMaxLatencyDurationCount = Infinity;
    v.currentTime = Math.max(dvrWindow.start, t);
    setPosition(v.currentTime);
  };
  const toggleMute = () => {
    const v = video.current;
    if (!v) return;
    v.muted = !v.muted;
    setMuted(v.muted);
  };
  const retry = () => {
    dispatch({ type: 'retry' });
    refresh();
  };
  const fullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else box.current?.requestFullscreen?.().catch(() => {});
  };
  const pip = () => {
    const v = video.current;
    if (!v) return;
    if (document.pictureInPictureElement) document.exitPictureInPicture().catch(() => {});
    else v.requestPictureInPicture?.().catch(() => {});
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.target !== box.current) return;
    if (e.key === ' ' || e.key === 'k') {
      e.preventDefault();
      togglePlay();
    } else if (e.key === 'm') toggleMute();
    else if (e.key === 'f') fullscreen();
  };

  const media = state.status === 'live' && phase !== 'unsupported';
  const shownLatency = showLatency(state, latency) ? latency : null;
  const behind = drift.behind && state.played && phase !== 'network';
  const pipSupported = typeof document !== 'undefined' && 'pictureInPictureEnabled' in document && document.pictureInPictureEnabled;
  const retryIn = retryAt == null ? null : Math.max(0, Math.ceil((retryAt - now) / 1000));
  return (
    <div
      ref={box}
      className={`player${paused || !media ? ' paused' : ''}${menuOpen ? ' menu-open' : ''}`}
      tabIndex={0}
      role="region"
      aria-label={`Video player: ${title}`}
      data-phase={phase}
      onKeyDown={onKey}
    >
      {media && (
        <video
          ref={video}
          playsInline
          aria-label={title}
          onPlaying={() => {
            dispatch({ type: 'playing' });
            setPaused(false);
          }}
          onPause={() => {
            setPaused(true);
            if (dvr) dvrBack.current = true;
            // hls.js would move a paused video to the edge every few seconds: it stays put.
            if (hls.current) hls.current.config.liveMaxLatencyDurationCount = Infinity;
          }}
          onPlay={() => {
            setPaused(false);
            if (hls.current && !dvrBack.current) hls.current.config.liveMaxLatencyDurationCount = MAX_LATENCY_SEGMENTS;
          }}
          onWaiting={() => dispatch({ type: 'waiting' })}
          onVolumeChange={(e) => setMuted(e.currentTarget.muted)}
          onEnded={() => {
            dispatch({ type: 'ended' });
            refresh();
          }}
          onClick={togglePlay}
        />
      )}
      {phase === 'loading' && (
        <div className="overlay" role="status" aria-live="polite">
          <div>
            <div className="spinner" aria-hidden="true" />
            <span className="visually-hidden">Loading the stream</span>
            <After ms={12_000}>
              <p>Still waiting for the first video from the server…</p>
              <button onClick={retry}>Load again</button>
            </After>
          </div>
        </div>
      )}
      {phase === 'buffering' && (
        <div className="overlay clear" role="status" aria-live="polite">
          <div>
            <div className="spinner" aria-hidden="true" />
            <span className="visually-hidden">Buffering</span>
            <After ms={10_000}>
              <p>The video has stopped arriving. Still trying…</p>
              <button onClick={retry}>Load again</button>
            </After>
          </div>
        </div>
      )}
      {phase === 'starting' && (
        <div className="overlay state" role="status" aria-live="polite">
          <div>
            <span className="pill warn">Starting</span>
            <h2>Starting… the stream will begin in a moment</h2>
            <p className="muted">{name} is connected; the first video is on its way. This page starts playing by itself.</p>
          </div>
        </div>
      )}
      {phase === 'failed' && (
        <div className="overlay state" role="alert">
          <div>
            <span className="pill bad">Not playing</span>
            <h2>{name}’s stream cannot be played right now</h2>
            <p data-testid="stream-problem">{state.problem ?? 'The stream is having technical problems. It will start playing when they are fixed.'}</p>
            <p className="muted small">Checking again every few seconds: it starts playing by itself.</p>
          </div>
        </div>
      )}
      {phase === 'network' && (
        <div className="overlay state" role="alert">
          <div>
            <h2>Cannot load the stream</h2>
            <p data-testid="network-error">{state.error?.message}</p>
            <p className="muted small" aria-live="off">
              {retryIn != null && retryIn > 0 ? `Trying again in ${retryIn} s.` : 'Trying again…'}
            </p>
            <button className="primary" onClick={retry}>
              Retry now
            </button>
          </div>
        </div>
      )}
      {phase === 'blocked' && (
        <div className="overlay">
          <button className="primary" onClick={goLive}>
            ▶ Play
          </button>
        </div>
      )}
      {phase === 'unsupported' && (
        <div className="overlay state" role="alert">
          <p>This browser cannot play the stream. Try a current version of Firefox, Chrome, Edge or Safari.</p>
        </div>
      )}
      {behind && (
        <button className="behind-live" data-testid="behind-live" onClick={goLive} aria-label={`${behindLabel(drift.seconds)} behind live: jump to live`}>
          <span aria-hidden="true">{behindLabel(drift.seconds)} behind</span> Jump to live
        </button>
      )}
      {media && phase !== 'network' && (
        <div className={`controls${dvr && dvrWindow ? ' with-dvr' : ''}`}>
          {dvr && dvrWindow && dvrWindow.end - dvrWindow.start > 1 && (
            <input
              className="dvr-seek"
              type="range"
              aria-label="Seek back in the broadcast"
              data-testid="dvr-seek"
              min={dvrWindow.start}
              max={dvrWindow.end}
              step={0.5}
              value={Math.min(Math.max(position, dvrWindow.start), dvrWindow.end)}
              aria-valuetext={behind ? `${behindLabel(drift.seconds)} behind live` : 'Live'}
              onChange={(e) => seekTo(Number(e.target.value))}
            />
          )}
          <button onClick={togglePlay} aria-label={paused ? 'Play' : 'Pause'}>
            {paused ? (
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M8 5v14l11-7z" /></svg>
            ) : (
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 5h4v14H6zm8 0h4v14h-4z" /></svg>
            )}
          </button>
          <button onClick={toggleMute} aria-label={muted ? 'Unmute' : 'Mute'}>
            {muted || volume === 0 ? (
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 9v6h4l5 5V4L7 9H3zm13.6 3 2.9-2.9-1.4-1.4-2.9 2.9-2.9-2.9-1.4 1.4 2.9 2.9-2.9 2.9 1.4 1.4 2.9-2.9 2.9 2.9 1.4-1.4z" /></svg>
            ) : (
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z" /></svg>
            )}
          </button>
          <label className="visually-hidden" htmlFor="player-volume">
            Volume
          </label>
          <input
            id="player-volume"
            type="range"
            min={0}
            max={1}
            step={0.05}
            value={muted ? 0 : volume}
            onChange={(e) => {
              const v = Number(e.target.value);
              setVolume(v);
              if (video.current && v > 0 && video.current.muted) {
                video.current.muted = false;
              }
            }}
          />
          <button
            className={`live-edge${behind ? '' : ' at-edge'}`}
            onClick={goLive}
            aria-label={behind ? 'Behind live: jump to live' : `Live, ${shownLatency == null ? 'latency not measured yet' : `${shownLatency.toFixed(1)} seconds behind the broadcaster`}`}
            title={behind ? 'Jump to live' : 'Latency to the broadcaster'}
            data-latency={shownLatency == null ? '' : shownLatency.toFixed(2)}
          >
            <span className="dot" aria-hidden="true" />
            {behind ? 'GO LIVE' : 'LIVE'}
            {shownLatency != null && !behind && <span className="muted small"> {shownLatency.toFixed(1)} s</span>}
          </button>
          <span className="grow" />
          {actions}
          {latencyChoice && (
            <button
              className="latency-toggle"
              aria-pressed={latencyChoice.low}
              onClick={() => latencyChoice.choose(!latencyChoice.low)}
              title={latencyChoice.low ? 'Low latency: about 2 s behind the streamer. Switch to normal latency for a bad connection (and rewinding).' : 'Normal latency: more buffer, rewinding. Switch to low latency.'}
            >
              {latencyChoice.low ? 'Low latency' : 'Normal latency'}
            </button>
          )}
          <QualityMenu levels={levels} selected={selected} playing={playing} onSelect={selectLevel} onOpenChange={setMenuOpen} />
          {pipSupported && (
            <button onClick={pip} aria-label="Picture in picture" title="Picture in picture">
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M19 7h-8v6h8V7zm2-4H3a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h18a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2zm0 16H3V5h18v14z" /></svg>
            </button>
          )}
          <button onClick={fullscreen} aria-label="Fullscreen" title="Fullscreen (f)">
            <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M7 14H5v5h5v-2H7v-3zm-2-4h2V7h3V5H5v5zm12 7h-3v2h5v-5h-2v3zM14 5v2h3v3h2V5h-5z" /></svg>
          </button>
        </div>
      )}
    </div>
  );
}

/** Its children, once `ms` have passed since it mounted (a hint for a wait that lasts). */
function After({ ms, children }: { ms: number; children: ReactNode }) {
  const [shown, setShown] = useState(false);
  useEffect(() => {
    const id = window.setTimeout(() => setShown(true), ms);
    return () => window.clearTimeout(id);
  }, [ms]);
  return shown ? <>{children}</> : null;
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const id = window.setInterval(() => setNow(Date.now()), 500);
    return () => window.clearInterval(id);
  }, [active]);
  return now;
}
