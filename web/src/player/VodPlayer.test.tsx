import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { VodPlayer } from './VodPlayer';
import { savePosition } from './resume';

// hls.js as in a browser with MSE (jsdom has none): it takes the source and the element.
const hlsCalls: string[] = [];
const hlsHandlers = new Map<string, () => void>();
vi.mock('hls.js', () => {
  class FakeHls {
    static isSupported = () => true;
    static Events = { MANIFEST_PARSED: 'manifestParsed', LEVEL_SWITCHED: 'levelSwitched', ERROR: 'error', MEDIA_ATTACHED: 'mediaAttached' };
    static ErrorTypes = { MEDIA_ERROR: 'mediaError', NETWORK_ERROR: 'networkError' };
    currentLevel = -1;
    on(event: string, fn: () => void) {
      hlsHandlers.set(event, fn);
    }
    loadSource(src: string) {
      hlsCalls.push(`load ${src}`);
    }
    attachMedia() {
      hlsCalls.push('attach');
    }
    destroy() {}
    recoverMediaError() {}
  }
  return { default: FakeHls };
});

const VTT = 'WEBVTT\n\n00:00:00.000 --> 00:01:40.000\nsprite.jpg#xywh=0,0,160,90\n\n00:01:40.000 --> 00:03:20.000\nsprite.jpg#xywh=160,0,160,90\n';

function renderPlayer(id = 'v1') {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => (url === '/vod/v1/sprite.vtt' ? new Response(VTT) : new Response('', { status: 404 }))),
  );
  render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <VodPlayer
        src="/vod/v1/master.m3u8"
        title="Friday jam"
        auth={false}
        duration={200}
        chapters={[
          { title: 'Intro', start: 0 },
          { title: 'Main set', start: 100 },
        ]}
        spriteVtt="/vod/v1/sprite.vtt"
        subtitles={[{ lang: 'en', label: 'English', url: 'http://public.example/vod/v1/subs/en.vtt' }]}
        resumeId={id}
      />
    </QueryClientProvider>,
  );
  return document.querySelector('video')!;
}

beforeEach(() => {
  vi.spyOn(HTMLMediaElement.prototype, 'play').mockImplementation(() => Promise.resolve());
  vi.spyOn(HTMLMediaElement.prototype, 'pause').mockImplementation(() => {});
});
afterEach(() => {
  hlsCalls.length = 0;
  hlsHandlers.clear();
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  localStorage.clear();
});

describe('VOD player', () => {
  it('marks chapters on the seek bar and previews the hovered time with its sprite tile and chapter', async () => {
    renderPlayer();
    const marks = document.querySelectorAll<HTMLElement>('.chapter-mark');
    await vi.waitFor(() => expect(hlsCalls).toEqual(['load /vod/v1/master.m3u8', 'attach']));
    // The first chapter starts at 0: no mark at the very start.
    expect([...marks].map((m) => m.style.left)).toEqual(['50%']);
    const seek = document.querySelector<HTMLElement>('.seek')!;
    seek.getBoundingClientRect = () => ({ left: 0, width: 400, top: 0, height: 18, right: 400, bottom: 18, x: 0, y: 0, toJSON: () => ({}) });
    // The sprite VTT is fetched and parsed; hover at 60% = 120 s, in the second tile and chapter.
    await vi.waitFor(async () => {
      fireEvent.mouseMove(seek, { clientX: 240 });
      const thumb = document.querySelector<HTMLElement>('.seek-thumb');
      expect(thumb).not.toBeNull();
      expect(thumb!.style.backgroundPosition).toBe('-160px 0px');
      expect(thumb!.style.backgroundImage).toContain('/vod/v1/sprite.jpg');
    });
    expect(screen.getByTestId('seek-preview')).toHaveTextContent('Main set2:00');
    fireEvent.mouseLeave(seek);
    expect(screen.queryByTestId('seek-preview')).toBeNull();
  });

  it('plays once hls.js has attached the video when Play was pressed before', async () => {
    renderPlayer();
    const play = vi.mocked(HTMLMediaElement.prototype.play);
    // Pressed at once: hls.js is still loading.
    await userEvent.click(screen.getAllByRole('button', { name: 'Play' })[0]);
    const pressed = play.mock.calls.length;
    expect(pressed).toBeGreaterThan(0);
    await vi.waitFor(() => expect(hlsCalls).toEqual(['load /vod/v1/master.m3u8', 'attach']));
    // Attaching reloads the element, which pauses it: the player asks to play again.
    hlsHandlers.get('mediaAttached')!();
    expect(play.mock.calls.length).toBe(pressed + 1);
  });

  it('does not start on its own when nobody pressed Play', async () => {
    renderPlayer();
    await vi.waitFor(() => expect(hlsCalls).toEqual(['load /vod/v1/master.m3u8', 'attach']));
    hlsHandlers.get('mediaAttached')!();
    expect(vi.mocked(HTMLMediaElement.prototype.play)).not.toHaveBeenCalled();
  });

  it('offers the subtitles as tracks from this origin, and turns the chosen one on', async () => {
    const v = renderPlayer();
    const track = v.querySelector('track')!;
    expect(track).toHaveAttribute('src', '/vod/v1/subs/en.vtt');
    expect(track).toHaveAttribute('srclang', 'en');
    await userEvent.click(screen.getByRole('button', { name: 'Subtitles: Off' }));
    await userEvent.click(screen.getByRole('menuitemradio', { name: 'English' }));
    expect(screen.getByRole('button', { name: 'Subtitles: English' })).toBeInTheDocument();
  });

  it('offers to resume where the viewer stopped, and seeks there', async () => {
    savePosition('v1', 125, 200);
    const v = renderPlayer();
    fireEvent.loadedMetadata(v);
    const resume = await screen.findByRole('button', { name: 'Resume from 2:05' });
    await userEvent.click(resume);
    expect(v.currentTime).toBe(125);
    expect(screen.queryByRole('group', { name: 'Resume' })).toBeNull();
  });

  it('does not offer to resume a video watched to its end, and forgets the position when it ends', async () => {
    savePosition('v1', 60, 200);
    const v = renderPlayer();
    fireEvent.ended(v);
    fireEvent.loadedMetadata(v);
    expect(screen.queryByRole('group', { name: 'Resume' })).toBeNull();
    expect(localStorage.getItem('streamhall.resume.v1')).toBeNull();
  });
});
