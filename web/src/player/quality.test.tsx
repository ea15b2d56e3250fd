import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QualityMenu, menuLevels, qualityLabel, type Level } from './quality';
import { liveHlsConfig, measuredLatency, networkMessage, withViewerId } from './live';

const levels: Level[] = [
  { index: 0, name: 'source', height: 540, bitrate: 3_000_000 },
  { index: 1, name: '360p', height: 360, bitrate: 900_000 },
  { index: 2, name: '480p', height: 480, bitrate: 1_500_000 },
];

describe('quality menu', () => {
  it('orders levels from the highest and labels Auto with what plays', () => {
    expect(menuLevels(levels).map((l) => l.name)).toEqual(['source', '480p', '360p']);
    expect(qualityLabel(levels, -1, 2)).toBe('Auto (480p)');
    expect(qualityLabel(levels, -1, -1)).toBe('Auto');
    expect(qualityLabel(levels, 1, 2)).toBe('360p');
  });

  it('offers Auto and every rendition, marks the choice, and reports a pick', async () => {
    const picked: number[] = [];
    const { rerender } = render(<QualityMenu levels={levels} selected={-1} playing={0} onSelect={(i) => picked.push(i)} />);
    const button = screen.getByRole('button', { name: 'Quality: Auto (source)' });
    expect(button).toHaveAttribute('aria-expanded', 'false');
    await userEvent.click(button);
    const items = screen.getAllByRole('menuitemradio');
    expect(items.map((i) => i.textContent?.replace(' ✓', ''))).toEqual(['Auto', 'source', '480p', '360p']);
    expect(screen.getByRole('menuitemradio', { name: /^Auto/ })).toHaveAttribute('aria-checked', 'true');
    await userEvent.click(screen.getByRole('menuitemradio', { name: /^360p/ }));
    expect(picked).toEqual([1]);
    expect(screen.queryByRole('menu')).toBeNull();
    rerender(<QualityMenu levels={levels} selected={1} playing={1} onSelect={(i) => picked.push(i)} />);
    await userEvent.click(screen.getByRole('button', { name: 'Quality: 360p' }));
    expect(screen.getByRole('menuitemradio', { name: /^360p/ })).toHaveAttribute('aria-checked', 'true');
    await userEvent.keyboard('{Escape}');
    expect(screen.queryByRole('menu')).toBeNull();
  });

  it('shows nothing before the manifest is parsed', () => {
    const { container } = render(<QualityMenu levels={[]} selected={-1} playing={-1} onSelect={() => {}} />);
    expect(container).toBeEmptyDOMElement();
  });
});

describe('player helpers', () => {
  it('measures latency from the program date of the playing position', () => {
    expect(measuredLatency(new Date(10_000), 12_500, null)).toBe(2.5);
    expect(measuredLatency(null, 12_500, 3)).toBe(3);
    expect(measuredLatency(new Date(NaN), 12_500, null)).toBeNull();
  });

  it('adds the viewer id to playlists and segments', () => {
    expect(withViewerId('/hls/a/360p/index.m3u8')).toMatch(/^\/hls\/a\/360p\/index\.m3u8\?vid=[0-9a-f]{24}$/);
    // Segments too: the server counts viewers on segment fetches.
    expect(withViewerId('/hls/a/360p/seg-1.ts')).toMatch(/^\/hls\/a\/360p\/seg-1\.ts\?vid=[0-9a-f]{24}$/);
    expect(withViewerId('/hls/a/360p/seg-1.ts?x=1')).toMatch(/\?x=1&vid=[0-9a-f]{24}$/);
    // Once only, and nothing that is not a playlist or a segment.
    expect(withViewerId('/hls/a/360p/seg-1.ts?vid=abc12345')).toBe('/hls/a/360p/seg-1.ts?vid=abc12345');
    expect(withViewerId('/api/v1/channels/a/thumbnail.jpg')).toBe('/api/v1/channels/a/thumbnail.jpg');
  });

  it('says what a fatal network error means in words', () => {
    expect(networkMessage({ details: 'manifestLoadError', response: { code: 404 } })).toMatch(/no longer has the stream’s playlist.*ended/);
    expect(networkMessage({ details: 'fragLoadError', response: { code: 503 } })).toBe('The server could not send the video (error 503).');
    expect(networkMessage({ details: 'levelLoadTimeOut' })).toMatch(/took too long/);
    expect(networkMessage({ details: 'fragLoadError', response: { code: 0 } })).toBe('Could not load the video: check your connection.');
  });
});

describe('live hls.js options', () => {
  it('are accepted by hls.js in both modes', async () => {
    const { default: Hls } = await import('hls.js');
    for (const low of [true, false]) {
      const h = new Hls(liveHlsConfig(low));
      expect(h.config.lowLatencyMode).toBe(low);
      h.destroy();
    }
  });

  it('leaves the low-latency distance to the playlist and keeps 2 segments for MPEG-TS', () => {
    const ll = liveHlsConfig(true);
    expect(ll.lowLatencyMode).toBe(true);
    // hls.js uses any liveSync* option the page gives instead of PART-HOLD-BACK.
    expect(Object.keys(ll).filter((k) => k.startsWith('liveSync'))).toEqual([]);
    const normal = liveHlsConfig(false);
    expect(normal.lowLatencyMode).toBe(false);
    expect(normal).toMatchObject({ liveSyncDurationCount: 2, maxLiveSyncPlaybackRate: 1.1 });
  });
});
