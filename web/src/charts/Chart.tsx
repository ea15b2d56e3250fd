// A small hand-written SVG time chart (lines, areas and bars on one time axis), keyboard
// explorable: focus it and use ← → Home End; the values under the cursor are read out. Each
// chart also has a text summary (its accessible name) and its data as a table.
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { nearest, niceTicks, tickLabel, timeTicks, type Point } from './transform';

export type Series = {
  name: string;
  kind: 'line' | 'area' | 'bar';
  points: Point[];
  /** A CSS colour (custom properties work). */
  color: string;
};

const HEIGHT = 220;
const PAD = { top: 12, right: 12, bottom: 26, left: 44 };

function useWidth(fallback = 640) {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(([e]) => setWidth(Math.max(240, Math.floor(e.contentRect.width))));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return { ref, width };
}

const fmtTime = (t: number) => new Date(t).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const fmtValue = (v: number | null) => (v === null ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(1));

/** Path segments for a line, broken at gaps. */
function linePath(points: Point[], x: (t: number) => number, y: (v: number) => number): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.v === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** Points with a gap (or the edge) on both sides: a line cannot show them, a dot does. */
export function isolated(points: Point[]): Point[] {
  return points.filter((p, i) => p.v !== null && (points[i - 1]?.v ?? null) === null && (points[i + 1]?.v ?? null) === null);
}

/** The same, closed down to the baseline per run (for areas). */
function areaPath(points: Point[], x: (t: number) => number, y: (v: number) => number, base: number): string {
  const runs: Point[][] = [[]];
  for (const p of points) {
    if (p.v === null) runs.push([]);
    else runs[runs.length - 1].push(p);
  }
  return runs
    .filter((r) => r.length)
    .map((r) => `M${x(r[0].t).toFixed(1)},${base}` + r.map((p) => `L${x(p.t).toFixed(1)},${y(p.v!).toFixed(1)}`).join('') + `L${x(r[r.length - 1].t).toFixed(1)},${base}Z`)
    .join('');
}

export function Chart({
  title,
  summary,
  from,
  to,
  series,
  bucketMs,
}: {
  title: string;
  /** One or two sentences saying what the chart shows; its accessible name. */
  summary: string;
  from: number;
  to: number;
  series: Series[];
  bucketMs: number;
}) {
  const id = useId();
  const { ref, width } = useWidth();
  const [cursor, setCursor] = useState<number | null>(null);
  const w = width - PAD.left - PAD.right;
  const h = HEIGHT - PAD.top - PAD.bottom;
  const max = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.v ?? 0)));
  const yTicks = niceTicks(max);
  const top = yTicks[yTicks.length - 1] || 1;
  const x = (t: number) => PAD.left + ((t - from) / Math.max(1, to - from)) * w;
  const y = (v: number) => PAD.top + h - (v / top) * h;
  const { ticks, step } = useMemo(() => timeTicks(from, to, Math.max(2, Math.floor(w / 110))), [from, to, w]);
  // The cursor walks the first series' points (every series shares the buckets).
  const axis = series[0]?.points ?? [];
  const stops = axis.flatMap((p, i) => (p.v === null ? [] : [i]));
  const at = cursor !== null && axis[cursor] ? axis[cursor] : null;
  const move = (dir: number | 'first' | 'last') => {
    if (!stops.length) return;
    const pos = cursor === null ? -1 : stops.indexOf(cursor);
    const next = dir === 'first' ? 0 : dir === 'last' ? stops.length - 1 : Math.min(stops.length - 1, Math.max(0, pos === -1 ? (dir > 0 ? 0 : stops.length - 1) : pos + dir));
    setCursor(stops[next]);
  };
  const barW = Math.max(1, (bucketMs / Math.max(1, to - from)) * w * 0.8);
  const bars = series.filter((s) => s.kind === 'bar');
  return (
    <figure className="chart" aria-labelledby={`${id}-t`}>
      <figcaption id={`${id}-t`} className="chart-title">
        {title}
      </figcaption>
      <div className="chart-legend" aria-hidden="true">
        {series.map((s) => (
          <span key={s.name}>
            <i style={{ background: s.color }} /> {s.name}
          </span>
        ))}
      </div>
      <div
        ref={ref}
        className="chart-plot"
        tabIndex={0}
        role="group"
        aria-roledescription="chart"
        aria-label={`${title}. ${summary} Use the left and right arrow keys to read the values.`}
        onKeyDown={(e) => {
          const keys: Record<string, number | 'first' | 'last'> = { ArrowRight: 1, ArrowLeft: -1, Home: 'first', End: 'last' };
          if (e.key in keys) {
            e.preventDefault();
            move(keys[e.key]);
          } else if (e.key === 'Escape') setCursor(null);
        }}
        onBlur={() => setCursor(null)}
        onPointerMove={(e) => {
          const r = e.currentTarget.getBoundingClientRect();
          const t = from + ((e.clientX - r.left - PAD.left) / w) * (to - from);
          const i = nearest(axis, t);
          setCursor(i === -1 ? null : i);
        }}
        onPointerLeave={() => setCursor(null)}
      >
        <svg width={width} height={HEIGHT} aria-hidden="true" focusable="false">
          {yTicks.map((v) => (
            <g key={v}>
              <line x1={PAD.left} x2={PAD.left + w} y1={y(v)} y2={y(v)} className="grid-line" />
              <text x={PAD.left - 6} y={y(v)} dy="0.32em" textAnchor="end" className="tick">
                {v}
              </text>
            </g>
          ))}
          {ticks.map((t) => (
            // Labels near an edge are anchored inwards, so none is cut off.
            <text key={t} x={x(t)} y={HEIGHT - 6} textAnchor={x(t) > width - 36 ? 'end' : x(t) < PAD.left + 24 ? 'start' : 'middle'} className="tick">
              {tickLabel(t, step, to - from)}
            </text>
          ))}
          {bars.map((s, si) =>
            s.points.map((p) =>
              p.v === null || p.v === 0 ? null : (
                <rect
                  key={`${s.name}-${p.t}`}
                  x={x(p.t) - barW / 2 + (si * barW) / bars.length}
                  width={barW / bars.length}
                  y={y(p.v)}
                  height={PAD.top + h - y(p.v)}
                  fill={s.color}
                  opacity={0.85}
                />
              ),
            ),
          )}
          {series
            .filter((s) => s.kind === 'area')
            .map((s) => (
              <path key={`${s.name}-area`} d={areaPath(s.points, x, y, PAD.top + h)} fill={s.color} opacity={0.18} />
            ))}
          {series
            .filter((s) => s.kind !== 'bar')
            .map((s) => (
              <path key={s.name} d={linePath(s.points, x, y)} fill="none" stroke={s.color} strokeWidth={2} strokeLinejoin="round" />
            ))}
          {series
            .filter((s) => s.kind !== 'bar')
            .flatMap((s) => isolated(s.points).map((p) => <circle key={`${s.name}-dot-${p.t}`} cx={x(p.t)} cy={y(p.v!)} r={3} fill={s.color} />))}
          {at && (
            <g>
              <line x1={x(at.t)} x2={x(at.t)} y1={PAD.top} y2={PAD.top + h} className="cursor-line" />
              {series.map((s) => {
                const p = s.points[cursor!];
                return p && p.v !== null && s.kind !== 'bar' ? <circle key={s.name} cx={x(p.t)} cy={y(p.v)} r={4} fill={s.color} /> : null;
              })}
            </g>
          )}
        </svg>
      </div>
      <p className="chart-readout small" aria-live="polite">
        {at ? (
          <>
            <strong>{fmtTime(at.t)}</strong>
            {series.map((s) => (
              <span key={s.name}>
                {' · '}
                {s.name} {fmtValue(s.points[cursor!]?.v ?? null)}
              </span>
            ))}
          </>
        ) : (
          <span className="muted">{summary}</span>
        )}
      </p>
      <details className="chart-data">
        <summary>Show the data as a table</summary>
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">{title}</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                {series.map((s) => (
                  <th scope="col" key={s.name}>
                    {s.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {axis.map((p, i) =>
                p.v === null ? null : (
                  <tr key={p.t}>
                    <td>{fmtTime(p.t)}</td>
                    {series.map((s) => (
                      <td className="num" key={s.name}>
                        {fmtValue(s.points[i]?.v ?? null)}
                      </td>
                    ))}
                  </tr>
                ),
              )}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
