// The recorded-video player: hls.js (loaded only here and in the live player) on a VOD master,
// with the controls of a video site: play, a seek bar with chapter marks and a thumbnail of
// the hovered time (the sprite VTT), the time, volume, subtitles, quality and fullscreen.
// Private videos send the viewer's access token with every playlist and segment request, and
// their subtitles and sprite are fetched the same way into blob URLs; videos of a channel that is
// not public do the same with the playback token.
import { useCallback, useEffect, useImperativeHandle, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent, type Ref } from 'react';
import type HlsType from 'hls.js';
import { useQuery } from '@tanstack/react-query';
import { tokens } from '../api/tokens';
import { load, useAuthedUrl } from '../api/authed';
import type { ChapterDto } from '../api/generated/ChapterDto';
import type { SubtitleDto } from '../api/generated/SubtitleDto';
import { localPath } from '../api/videos';
import { withToken } from '../api/playback';
import { QualityMenu, type Level } from './quality';
import { networkMessage } from './live';
import { chapterIndexAt, formatClock, formatLength, sortChapters } from './chapters';
import { cueAt, parseSpriteVtt, type SpriteCue } from './sprite';
import { resumePosition, savePosition } from './resume';

/** What the page around the player may do with it (chapter links, the clip form). */
export type VodHandle = { seek: (t: number) => void; position: () => number };

type Props = {
  /** The master playlist (a same-origin path). */
  src: string;
  title: string;
  /** Send the access token with every request (a private video). */
  auth: boolean;
  /** The duration the API knows, used until the media element knows its own. */
  duration: number;
  chapters: ChapterDto[];
  spriteVtt: string | null;
  subtitles: SubtitleDto[];
  /** Remember the position under this id, and offer to resume from it. */
  resumeId: string;
  handle?: Ref<VodHandle>;
  /** The playback token of a channel that is not public: on every playlist and segment request, the latest one. */
  playbackToken?: string | null;
};

function useSprite(vtt: string | null, auth: boolean, token: () => string | null): SpriteCue[] {
  const q = useQuery({
    queryKey: ['sprite', vtt, auth],
    queryFn: async () => parseSpriteVtt(await (await load(withToken(vtt!, token()), auth)).text(), vtt!),
    enabled: vtt != null,
    staleTime: Infinity,
    retry: false,
  });
  return q.data ?? [];
}

export function VodPlayer({ src, title, auth, duration: knownDuration, chapters, spriteVtt, subtitles, resumeId, handle, playbackToken = null }: Props) {
  // Read by every request, so a renewed token needs no reload.
  const tokenRef = useRef(playbackToken);
  tokenRef.current = playbackToken;
  const gated = playbackToken != null;
  const box = useRef<HTMLDivElement>(null);
  const video = useRef<HTMLVideoElement>(null);
  const hls = useRef<HlsType | null>(null);
  // Play was asked for: a Play pressed before hls.js has attached the video is undone by the
  // element's load (it pauses), so it is asked again once the video is attached.
  const wantsPlay = useRef(false);
  const [levels, setLevels] = useState<Level[]>([]);
  const [selected, setSelected] = useState(-1);
  const [playing, setPlaying] = useState(-1);
  const [paused, setPaused] = useState(true);
  const [muted, setMuted] = useState(false);
  const [waiting, setWaiting] = useState(true);
  const [time, setTime] = useState(0);
  const [mediaDuration, setMediaDuration] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [resumeAt, setResumeAt] = useState<number | null>(null);
  const [subtitle, setSubtitle] = useState(-1);
  const [menuOpen, setMenuOpen] = useState(false);
  const duration = mediaDuration > 0 && Number.isFinite(mediaDuration) ? mediaDuration : knownDuration;
  const sorted = useMemo(() => sortChapters(chapters), [chapters]);
  const cues = useSprite(spriteVtt, auth, () => tokenRef.current);

  useImperativeHandle(handle, () => ({
    seek: (t: number) => {
      const v = video.current;
      if (!v) return;
      v.currentTime = t;
      wantsPlay.current = true;
      v.play().catch(() => {});
    },
    position: () => video.current?.currentTime ?? 0,
  }));

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    let destroyed = false;
    setError(null);
    setWaiting(true);
    (async () => {
      const { default: Hls } = await import('hls.js');
      if (destroyed) return;
      if (!Hls.isSupported()) {
        if (v.canPlayType('application/vnd.apple.mpegurl')) v.src = withToken(src, tokenRef.current);
        else setError('This browser cannot play the video. Try a current version of Firefox, Chrome, Edge or Safari.');
        return;
      }
      const h = new Hls({
        manifestLoadingMaxRetry: 2,
        levelLoadingMaxRetry: 4,
        fragLoadingMaxRetry: 4,
        xhrSetup:
          auth || gated
            ? async (xhr, url) => {
                const token = auth ? await tokens.access() : null;
                if (!xhr.readyState) xhr.open('GET', withToken(url, tokenRef.current), true);
                if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
              }
            : undefined,
      });
      hls.current = h;
      h.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        setLevels(data.levels.map((l, index) => ({ index, name: l.name ?? '', height: l.height, bitrate: l.bitrate })));
      });
      h.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => setPlaying(data.level));
      h.on(Hls.Events.MEDIA_ATTACHED, () => {
        if (wantsPlay.current && v.paused) v.play().catch(() => {});
      });
      h.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) h.recoverMediaError();
        else setError(data.type === Hls.ErrorTypes.NETWORK_ERROR ? networkMessage(data) : `The video could not be played (${data.details}).`);
      });
      h.loadSource(src);
      h.attachMedia(v);
    })().catch(() => setError('The player could not be loaded: check your connection.'));
    return () => {
      destroyed = true;
      hls.current?.destroy();
      hls.current = null;
      setLevels([]);
    };
  }, [src, auth, gated, attempt]);

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    v.volume = Number(localStorage.getItem('streamhall.volume') ?? '1');
  }, []);

  // The chosen subtitles show; the others are off.
  useEffect(() => {
    const tracks = video.current?.textTracks;
    if (!tracks) return;
    for (let i = 0; i < tracks.length; i++) tracks[i].mode = i === subtitle ? 'showing' : 'disabled';
  }, [subtitle, subtitles]);

  const lastSaved = useRef(0);
  const onTimeUpdate = () => {
    const v = video.current;
    if (!v) return;
    setTime(v.currentTime);
    // Every 5 s of playing: the position survives a closed tab.
    if (Math.abs(v.currentTime - lastSaved.current) >= 5) {
      lastSaved.current = v.currentTime;
      savePosition(resumeId, v.currentTime, duration);
    }
  };

  const togglePlay = useCallback(() => {
    const v = video.current;
    if (!v) return;
    setResumeAt(null);
    wantsPlay.current = v.paused || v.ended;
    if (wantsPlay.current) v.play().catch(() => {});
    else v.pause();
  }, []);
  const seek = (t: number) => {
    const v = video.current;
    if (!v) return;
    setResumeAt(null);
    v.currentTime = Math.max(0, Math.min(t, duration || t));
    setTime(v.currentTime);
  };
  const toggleMute = () => {
    const v = video.current;
    if (!v) return;
    v.muted = !v.muted;
  };
  const fullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else box.current?.requestFullscreen?.().catch(() => {});
  };
  const selectLevel = useCallback((i: number) => {
    setSelected(i);
    if (hls.current) hls.current.currentLevel = i;
  }, []);
  const onKey = (e: KeyboardEvent) => {
    if (e.target !== box.current) return;
    if (e.key === ' ' || e.key === 'k') {
      e.preventDefault();
      togglePlay();
    } else if (e.key === 'ArrowLeft') seek(time - 5);
    else if (e.key === 'ArrowRight') seek(time + 5);
    else if (e.key === 'm') toggleMute();
    else if (e.key === 'f') fullscreen();
  };

  const chapter = sorted[chapterIndexAt(sorted, time)];
  return (
    <div
      ref={box}
      className={`player vod${paused ? ' paused' : ''}${menuOpen ? ' menu-open' : ''}`}
      tabIndex={0}
      role="region"
      aria-label={`Video player: ${title}`}
      data-phase={error ? 'error' : waiting ? 'loading' : paused ? 'paused' : 'playing'}
      onKeyDown={onKey}
    >
      <video
        ref={video}
        playsInline
        aria-label={title}
        onLoadedMetadata={(e) => {
          const d = e.currentTarget.duration;
          setMediaDuration(d);
          setResumeAt(resumePosition(resumeId, Number.isFinite(d) ? d : knownDuration));
          setWaiting(false);
        }}
        onDurationChange={(e) => setMediaDuration(e.currentTarget.duration)}
        onTimeUpdate={onTimeUpdate}
        onPlaying={() => {
          setWaiting(false);
          setPaused(false);
        }}
        onPause={(e) => {
          setPaused(true);
          savePosition(resumeId, e.currentTarget.currentTime, duration);
        }}
        onPlay={() => setPaused(false)}
        onWaiting={() => setWaiting(true)}
        onCanPlay={() => setWaiting(false)}
        onEnded={() => {
          setPaused(true);
          savePosition(resumeId, 0, duration);
        }}
        onVolumeChange={(e) => {
          setMuted(e.currentTarget.muted);
          localStorage.setItem('streamhall.volume', String(e.currentTarget.volume));
        }}
        onClick={togglePlay}
      >
        {subtitles.map((s) => (
          <SubtitleTrack key={s.lang} sub={s} auth={auth} playbackToken={playbackToken} />
        ))}
      </video>
      {error ? (
        <div className="overlay state" role="alert">
          <div>
            <h2>Cannot play the video</h2>
            <p data-testid="network-error">{error}</p>
            <button className="primary" onClick={() => setAttempt((n) => n + 1)}>
              Retry
            </button>
          </div>
        </div>
      ) : waiting && !paused ? (
        <div className="overlay clear" role="status" aria-live="polite">
          <div className="spinner" aria-hidden="true" />
          <span className="visually-hidden">Loading the video</span>
        </div>
      ) : null}
      {resumeAt != null && !error && (
        <div className="resume" role="group" aria-label="Resume">
          <span>You stopped at {formatClock(resumeAt)}.</span>
          <button
            className="primary"
            onClick={() => {
              seek(resumeAt);
              video.current?.play().catch(() => {});
            }}
          >
            Resume from {formatClock(resumeAt)}
          </button>
          <button
            onClick={() => {
              setResumeAt(null);
              seek(0);
              video.current?.play().catch(() => {});
            }}
          >
            Start over
          </button>
        </div>
      )}
      {paused && !error && resumeAt == null && (
        <button className="big-play" onClick={togglePlay} aria-label="Play">
          <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M8 5v14l11-7z" /></svg>
        </button>
      )}
      <div className="controls vod-controls">
        <SeekBar time={time} duration={duration} chapters={sorted} cues={cues} auth={auth} playbackToken={playbackToken} onSeek={seek} />
        <div className="row-controls">
          <button onClick={togglePlay} aria-label={paused ? 'Play' : 'Pause'}>
            {paused ? (
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M8 5v14l11-7z" /></svg>
            ) : (
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 5h4v14H6zm8 0h4v14h-4z" /></svg>
            )}
          </button>
          <button onClick={toggleMute} aria-label={muted ? 'Unmute' : 'Mute'}>
            {muted ? (
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 9v6h4l5 5V4L7 9H3zm13.6 3 2.9-2.9-1.4-1.4-2.9 2.9-2.9-2.9-1.4 1.4 2.9 2.9-2.9 2.9 1.4 1.4 2.9-2.9 2.9 2.9 1.4-1.4z" /></svg>
            ) : (
              <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z" /></svg>
            )}
          </button>
          <span className="clock" data-testid="vod-time">
            {formatClock(time)} / <span data-testid="vod-duration">{formatLength(duration)}</span>
          </span>
          {chapter && <span className="chapter-now ellipsis hide-phone">· {chapter.title}</span>}
          <span className="grow" />
          <SubtitlesMenu subtitles={subtitles} selected={subtitle} onSelect={setSubtitle} onOpenChange={setMenuOpen} />
          <QualityMenu levels={levels} selected={selected} playing={playing} onSelect={selectLevel} onOpenChange={setMenuOpen} />
          <button onClick={fullscreen} aria-label="Fullscreen" title="Fullscreen (f)">
            <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M7 14H5v5h5v-2H7v-3zm-2-4h2V7h3V5H5v5zm12 7h-3v2h5v-5h-2v3zM14 5v2h3v3h2V5h-5z" /></svg>
          </button>
        </div>
      </div>
    </div>
  );
}

function SubtitleTrack({ sub, auth, playbackToken }: { sub: SubtitleDto; auth: boolean; playbackToken: string | null }) {
  const src = useAuthedUrl(localPath(sub.url), auth, playbackToken);
  if (!src) return null;
  return <track kind="subtitles" src={src} srcLang={sub.lang} label={sub.label} />;
}

/**
 * The seek bar: a range input (keyboard and screen readers), chapter marks on it, and on
 * hover the time, the chapter and the sprite tile of the hovered position.
 */
function SeekBar({
  time,
  duration,
  chapters,
  cues,
  auth,
  playbackToken,
  onSeek,
}: {
  time: number;
  duration: number;
  chapters: ChapterDto[];
  cues: SpriteCue[];
  auth: boolean;
  playbackToken: string | null;
  onSeek: (t: number) => void;
}) {
  const [hover, setHover] = useState<{ t: number; x: number; width: number } | null>(null);
  // One sheet: fetched once (a blob) when private or gated, so a later hover needs no token.
  const fetched = auth || playbackToken != null;
  const sheet = useAuthedUrl(cues[0]?.url ?? null, auth, playbackToken);
  const move = (e: MouseEvent<HTMLDivElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    if (r.width <= 0 || duration <= 0) return;
    const x = Math.max(0, Math.min(e.clientX - r.left, r.width));
    setHover({ t: (x / r.width) * duration, x, width: r.width });
  };
  const cue = hover ? cueAt(cues, hover.t) : null;
  const hoverChapter = hover ? chapters[chapterIndexAt(chapters, hover.t)] : undefined;
  const tile = cue && (fetched ? (cue.url === cues[0]?.url ? sheet : null) : cue.url);
  const previewWidth = cue?.w ?? 0;
  const left = hover ? Math.max(0, Math.min(hover.x - previewWidth / 2, hover.width - previewWidth)) : 0;
  return (
    <div className="seek" onMouseMove={move} onMouseLeave={() => setHover(null)}>
      {hover && (
        <div className="seek-preview" style={{ left }} data-testid="seek-preview" aria-hidden="true">
          {cue && tile && (
            <div
              className="seek-thumb"
              style={{ width: cue.w, height: cue.h, backgroundImage: `url("${tile}")`, backgroundPosition: `${-cue.x}px ${-cue.y}px` }}
            />
          )}
          <div className="seek-label">
            {hoverChapter && <span className="ellipsis">{hoverChapter.title}</span>}
            {formatClock(hover.t)}
          </div>
        </div>
      )}
      <div className="seek-track" aria-hidden="true">
        <div className="seek-played" style={{ width: duration > 0 ? `${(Math.min(time, duration) / duration) * 100}%` : 0 }} />
        {duration > 0 &&
          chapters
            .filter((c) => c.start > 0 && c.start < duration)
            .map((c) => <span key={c.start} className="chapter-mark" style={{ left: `${(c.start / duration) * 100}%` }} title={c.title} />)}
      </div>
      <input
        type="range"
        className="seek-input"
        aria-label="Seek"
        min={0}
        max={duration > 0 ? duration : 0}
        step={0.1}
        value={Math.min(time, duration || 0)}
        aria-valuetext={`${formatClock(time)} of ${formatLength(duration)}`}
        onChange={(e) => onSeek(Number(e.target.value))}
      />
    </div>
  );
}

function SubtitlesMenu({
  subtitles,
  selected,
  onSelect,
  onOpenChange,
}: {
  subtitles: SubtitleDto[];
  selected: number;
  onSelect: (i: number) => void;
  onOpenChange: (open: boolean) => void;
}) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const set = (o: boolean) => {
    setOpen(o);
    onOpenChange(o);
  };
  useEffect(() => {
    if (!open) return;
    const close = (e: globalThis.MouseEvent) => {
      if (!ref.current?.contains(e.target as Node)) {
        setOpen(false);
        onOpenChange(false);
      }
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open, onOpenChange]);
  if (subtitles.length === 0) return null;
  const current = selected >= 0 ? subtitles[selected]?.label : 'Off';
  const items = [{ i: -1, label: 'Off' }, ...subtitles.map((s, i) => ({ i, label: s.label || s.lang }))];
  return (
    <div className="menu" ref={ref} onKeyDown={(e) => e.key === 'Escape' && set(false)}>
      <button aria-haspopup="menu" aria-expanded={open} aria-label={`Subtitles: ${current}`} onClick={() => set(!open)}>
        CC
      </button>
      {open && (
        <div className="menu-list" role="menu" aria-label="Subtitles">
          {items.map((it, n) => (
            <button
              key={it.i}
              role="menuitemradio"
              aria-checked={selected === it.i}
              autoFocus={n === 0}
              onClick={() => {
                onSelect(it.i);
                set(false);
              }}
            >
              {it.label}
              {selected === it.i ? ' ✓' : ''}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
