// The live player: hls.js (loaded only here) tuned for low latency, with the controls people
// know from Twitch and YouTube Live: play, volume, quality (Auto and each rendition), a
// live-edge badge with the measured latency and a jump back to live, picture-in-picture and
// fullscreen. Safari plays HLS natively and gets the same controls minus the quality menu.
import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type HlsType from 'hls.js';
import { QualityMenu, type Level } from './quality';

/** A random id per page view: the server counts viewers by it (`vid`), not by address. */
const VIEWER_ID = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');

export function withViewerId(url: string): string {
  if (!/\.m3u8(\?|$)/.test(url) || url.includes('vid=')) return url;
  return url + (url.includes('?') ? '&' : '?') + 'vid=' + VIEWER_ID;
}

/** Seconds behind the source: from the playing segment's PROGRAM-DATE-TIME when known. */
export function measuredLatency(playingDate: Date | null | undefined, now: number, fallback: number | null): number | null {
  if (playingDate && !Number.isNaN(playingDate.getTime())) {
    const s = (now - playingDate.getTime()) / 1000;
    if (s >= 0 && s < 600) return s;
  }
  return fallback;
}

type Props = { src: string; title: string; onEnded?: () => void };

export function Player({ src, title, onEnded }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const video = useRef<HTMLVideoElement>(null);
  const hls = useRef<HlsType | null>(null);
  const [levels, setLevels] = useState<Level[]>([]);
  const [selected, setSelected] = useState(-1);
  const [playing, setPlaying] = useState(-1);
  const [paused, setPaused] = useState(true);
  const [muted, setMuted] = useState(false);
  const [volume, setVolume] = useState(() => Number(localStorage.getItem('streamhall.volume') ?? '1'));
  const [latency, setLatency] = useState<number | null>(null);
  const [atEdge, setAtEdge] = useState(true);
  const [status, setStatus] = useState<'loading' | 'playing' | 'buffering' | 'ended' | 'error' | 'blocked'>('loading');
  const [menuOpen, setMenuOpen] = useState(false);

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    let destroyed = false;
    let retry: number | undefined;
    setStatus('loading');
    const start = () => {
      v.play().catch((e: DOMException) => {
        if (e.name !== 'NotAllowedError') return;
        // Autoplay with sound is blocked until the viewer interacts: start muted.
        v.muted = true;
        setMuted(true);
        v.play().catch(() => setStatus('blocked'));
      });
    };
    (async () => {
      const { default: Hls } = await import('hls.js');
      if (destroyed) return;
      if (!Hls.isSupported()) {
        if (v.canPlayType('application/vnd.apple.mpegurl')) {
          v.src = src;
          start();
        } else setStatus('error');
        return;
      }
      const h = new Hls({
        lowLatencyMode: true,
        // 1 s segments: play 2 segments behind the edge, catch up (up to 1.3x) past 5.
        liveSyncDurationCount: 2,
        liveMaxLatencyDurationCount: 5,
        maxLiveSyncPlaybackRate: 1.3,
        backBufferLength: 30,
        manifestLoadingMaxRetry: 6,
        levelLoadingMaxRetry: 6,
        xhrSetup: (xhr, url) => {
          const counted = withViewerId(url);
          if (counted !== url) xhr.open('GET', counted, true);
        },
      });
      hls.current = h;
      h.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        setLevels(
          data.levels.map((l, index) => ({ index, name: l.name ?? '', height: l.height, bitrate: l.bitrate })),
        );
        start();
      });
      h.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => setPlaying(data.level));
      h.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          h.recoverMediaError();
        } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
          setStatus('buffering');
          retry = window.setTimeout(() => h.startLoad(), 2000);
        } else {
          setStatus('error');
        }
      });
      h.loadSource(src);
      h.attachMedia(v);
    })().catch(() => setStatus('error'));
    return () => {
      destroyed = true;
      window.clearTimeout(retry);
      hls.current?.destroy();
      hls.current = null;
      setLevels([]);
    };
  }, [src]);

  // Latency and the live edge, twice a second.
  useEffect(() => {
    const id = window.setInterval(() => {
      const h = hls.current;
      if (!h) return;
      const lat = measuredLatency(h.playingDate, Date.now(), Number.isFinite(h.latency) ? h.latency : null);
      setLatency(lat);
      const target = h.targetLatency ?? 3;
      setAtEdge(Number.isFinite(h.latency) ? h.latency <= target + 2 : true);
    }, 500);
    return () => window.clearInterval(id);
  }, []);

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

  const togglePlay = () => {
    const v = video.current;
    if (!v) return;
    if (v.paused) {
      goLive();
      v.play().catch(() => setStatus('blocked'));
    } else v.pause();
  };
  const toggleMute = () => {
    const v = video.current;
    if (!v) return;
    v.muted = !v.muted;
    setMuted(v.muted);
  };
  const goLive = () => {
    const v = video.current;
    const h = hls.current;
    if (!v) return;
    const edge = h?.liveSyncPosition;
    if (edge != null && Number.isFinite(edge)) v.currentTime = edge;
    else if (v.seekable.length) v.currentTime = v.seekable.end(v.seekable.length - 1) - 1;
    v.play().catch(() => {});
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

  const pipSupported = typeof document !== 'undefined' && 'pictureInPictureEnabled' in document && document.pictureInPictureEnabled;
  return (
    <div
      ref={box}
      className={`player${paused ? ' paused' : ''}${menuOpen ? ' menu-open' : ''}`}
      tabIndex={0}
      role="region"
      aria-label={`Video player: ${title}`}
      onKeyDown={onKey}
    >
      <video
        ref={video}
        playsInline
        aria-label={title}
        onPlaying={() => {
          setStatus('playing');
          setPaused(false);
        }}
        onPause={() => setPaused(true)}
        onPlay={() => setPaused(false)}
        onWaiting={() => setStatus((s) => (s === 'playing' ? 'buffering' : s))}
        onVolumeChange={(e) => setMuted(e.currentTarget.muted)}
        onEnded={() => {
          setStatus('ended');
          onEnded?.();
        }}
        onClick={togglePlay}
      />
      {status === 'loading' && (
        <div className="overlay" aria-live="polite">
          <div className="spinner" aria-label="Loading the stream" />
        </div>
      )}
      {status === 'blocked' && (
        <div className="overlay">
          <button className="primary" onClick={togglePlay}>
            ▶ Play
          </button>
        </div>
      )}
      {status === 'ended' && (
        <div className="overlay" role="status">
          <p>The broadcast has ended.</p>
        </div>
      )}
      {status === 'error' && (
        <div className="overlay" role="alert">
          <p>This browser cannot play the stream.</p>
        </div>
      )}
      <div className="controls">
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
          className={`live-edge${atEdge ? ' at-edge' : ''}`}
          onClick={goLive}
          aria-label={atEdge ? `Live, ${latency == null ? 'latency unknown' : `${latency.toFixed(1)} seconds behind`}` : 'Behind live: jump to live'}
          title={atEdge ? 'Latency to the broadcaster' : 'Jump to live'}
          data-latency={latency == null ? '' : latency.toFixed(2)}
        >
          <span className="dot" aria-hidden="true" />
          {atEdge ? 'LIVE' : 'GO LIVE'}
          {latency != null && <span className="muted small"> {latency.toFixed(1)} s</span>}
        </button>
        <span className="grow" />
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
    </div>
  );
}
