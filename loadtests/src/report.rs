//! A run's results: a summary table for the terminal, JSON for machines, and an HTML page
//! with latency-over-time and throughput plots (SVG drawn here: no fonts or system libraries
//! needed).

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use serde::Serialize;

use crate::{
    metrics::{Snapshot, Unit, fmt_bytes},
    stats::Summary,
};

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    /// `ws-broadcast`, `nginx`, … when the run measured a peer instead of streamhall.
    pub peer: Option<String>,
    /// Unix seconds at the start.
    pub started_at: u64,
    /// Length of the measured phase, seconds.
    pub measured_secs: f64,
    pub params: BTreeMap<String, serde_json::Value>,
    /// Totals.
    pub counters: BTreeMap<String, u64>,
    /// Derived figures: rates per second of the measured phase, ratios, loss.
    pub figures: BTreeMap<String, f64>,
    pub latencies: BTreeMap<String, Summary>,
    /// Gauges: (last, max).
    pub gauges: BTreeMap<String, (i64, i64)>,
    /// Counts by label: disconnect reasons, statuses, rejection codes.
    pub tallies: BTreeMap<String, BTreeMap<String, u64>>,
    pub notes: Vec<String>,
    pub series: Series,
}

/// One point per second of the run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Series {
    pub t: Vec<f64>,
    /// `NAME p50 ms`, `NAME p99 ms`.
    pub latency_ms: BTreeMap<String, Vec<f64>>,
    /// `NAME/s` for counted things.
    pub rates: BTreeMap<String, Vec<f64>>,
    /// Bytes per second.
    pub bytes_per_sec: BTreeMap<String, Vec<f64>>,
    pub gauges: BTreeMap<String, Vec<f64>>,
}

impl Report {
    pub fn new(scenario: &str, target: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            target: target.to_owned(),
            started_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    pub fn param(&mut self, k: &str, v: impl Serialize) {
        self.params
            .insert(k.to_owned(), serde_json::to_value(v).unwrap_or_default());
    }

    pub fn counter(&self, k: &str) -> u64 {
        self.counters.get(k).copied().unwrap_or(0)
    }

    pub fn figure(&self, k: &str) -> f64 {
        self.figures.get(k).copied().unwrap_or(0.0)
    }

    pub fn latency(&self, k: &str) -> Summary {
        self.latencies.get(k).copied().unwrap_or_default()
    }

    /// Copies a recorder's totals and series into the report.
    pub fn absorb(&mut self, s: &Snapshot) {
        self.series.t = s.times.clone();
        for (name, (sum, points)) in &s.latencies {
            self.latencies.insert(name.clone(), *sum);
            self.series.latency_ms.insert(
                format!("{name} p50"),
                points.iter().map(|p| p.p50_ms).collect(),
            );
            self.series.latency_ms.insert(
                format!("{name} p99"),
                points.iter().map(|p| p.p99_ms).collect(),
            );
        }
        for (name, (total, unit, rates)) in &s.counters {
            self.counters.insert(name.clone(), *total);
            let into = match unit {
                Unit::Count => &mut self.series.rates,
                Unit::Bytes => &mut self.series.bytes_per_sec,
            };
            into.insert(name.clone(), rates.clone());
        }
        for (name, (last, max, points)) in &s.gauges {
            self.gauges.insert(name.clone(), (*last, *max));
            self.series.gauges.insert(name.clone(), points.clone());
        }
        for (name, t) in &s.tallies {
            if !t.is_empty() {
                self.tallies.insert(name.clone(), t.clone());
            }
        }
    }

    /// The summary table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let who = self.peer.as_deref().unwrap_or("streamhall");
        let _ = writeln!(
            out,
            "== {} against {} ({}), {:.1} s measured",
            self.scenario, who, self.target, self.measured_secs
        );
        if !self.latencies.is_empty() {
            let _ = writeln!(
                out,
                "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "latency (ms)", "count", "p50", "p90", "p99", "max"
            );
            for (k, s) in &self.latencies {
                let _ = writeln!(
                    out,
                    "{k:<28} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                    s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
                );
            }
        }
        let _ = writeln!(out, "{:<28} {:>14}", "counter", "total");
        for (k, v) in &self.counters {
            let _ = writeln!(out, "{k:<28} {v:>14}");
        }
        for (k, v) in &self.figures {
            let shown = if k.contains("bytes") {
                format!("{}/s", fmt_bytes(*v))
            } else {
                format!("{v:.3}")
            };
            let _ = writeln!(out, "{k:<28} {shown:>14}");
        }
        for (k, (last, max)) in &self.gauges {
            let _ = writeln!(out, "{k:<28} {last:>9} (max {max})");
        }
        for (k, t) in &self.tallies {
            let items: Vec<String> = t.iter().map(|(l, n)| format!("{l}: {n}")).collect();
            let _ = writeln!(out, "{k:<28} {}", items.join(", "));
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    pub fn write_html(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.html())?;
        Ok(())
    }

    pub fn html(&self) -> String {
        let mut h = String::new();
        let who = self.peer.as_deref().unwrap_or("streamhall");
        let _ = write!(
            h,
            "<!doctype html><meta charset=utf-8><title>streamhall-load {s}</title>\
             <style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}}\
             pre{{background:#f4f4f4;padding:1em;overflow:auto}}svg{{background:#fff;border:1px solid #ddd;margin:.5em 0}}</style>\
             <h1>{s} against {w}</h1><p>{t} · started {st} (unix) · {m:.1} s measured</p>",
            s = esc(&self.scenario),
            w = esc(who),
            t = esc(&self.target),
            st = self.started_at,
            m = self.measured_secs
        );
        let _ = write!(h, "<h2>Summary</h2><pre>{}</pre>", esc(&self.table()));
        let t = &self.series.t;
        let plots: [Plot; 4] = [
            ("Latency over time", "ms", &self.series.latency_ms),
            ("Throughput", "per second", &self.series.rates),
            ("Bytes per second", "bytes/s", &self.series.bytes_per_sec),
            ("Levels", "", &self.series.gauges),
        ];
        for (title, unit, lines) in plots {
            if lines.values().any(|v| v.iter().any(|x| *x > 0.0)) {
                let _ = write!(h, "<h2>{}</h2>{}", esc(title), svg_plot(t, lines, unit));
            }
        }
        let _ = write!(
            h,
            "<h2>Parameters</h2><pre>{}</pre>",
            esc(&serde_json::to_string_pretty(&self.params).unwrap_or_default())
        );
        h
    }
}

/// Title, unit and lines of one chart.
type Plot<'a> = (&'a str, &'a str, &'a BTreeMap<String, Vec<f64>>);

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// A line chart of `lines` against `t` (seconds), with axes, ticks and a legend.
pub fn svg_plot(t: &[f64], lines: &BTreeMap<String, Vec<f64>>, unit: &str) -> String {
    let (w, hgt, l, r, top, bottom) = (900.0, 320.0, 70.0, 20.0, 20.0, 40.0);
    let (pw, ph) = (w - l - r, hgt - top - bottom);
    let xmax = t.last().copied().unwrap_or(1.0).max(1.0);
    let ymax = nice_ceiling(
        lines
            .values()
            .flat_map(|v| v.iter().copied())
            .fold(0.0, f64::max),
    );
    let x = |v: f64| l + pw * v / xmax;
    let y = |v: f64| top + ph - ph * v / ymax;
    let mut s = String::new();
    let legend_h = 16.0 * lines.len() as f64;
    let _ = write!(
        s,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{}' font-size='11' font-family='sans-serif'>",
        hgt + legend_h
    );
    for i in 0..=4 {
        let v = ymax * f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<line x1='{l}' x2='{}' y1='{yy:.1}' y2='{yy:.1}' stroke='#eee'/><text x='{}' y='{:.1}' text-anchor='end'>{}</text>",
            l + pw,
            l - 6.0,
            y(v) + 4.0,
            short(v),
            yy = y(v)
        );
    }
    for i in 0..=5 {
        let v = xmax * f64::from(i) / 5.0;
        let _ = write!(
            s,
            "<text x='{:.1}' y='{}' text-anchor='middle'>{v:.0} s</text>",
            x(v),
            top + ph + 16.0
        );
    }
    let _ = write!(
        s,
        "<line x1='{l}' x2='{l}' y1='{top}' y2='{}' stroke='#333'/><line x1='{l}' x2='{}' y1='{}' y2='{}' stroke='#333'/>\
         <text x='12' y='{}' transform='rotate(-90 12 {})' text-anchor='middle'>{}</text>",
        top + ph,
        l + pw,
        top + ph,
        top + ph,
        top + ph / 2.0,
        top + ph / 2.0,
        esc(unit)
    );
    for (i, (name, v)) in lines.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let pts: Vec<String> = t
            .iter()
            .zip(v)
            .map(|(tt, vv)| format!("{:.1},{:.1}", x(*tt), y(*vv)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill='none' stroke='{c}' stroke-width='1.5' points='{}'/>",
            pts.join(" ")
        );
        let ly = hgt + 16.0 * i as f64 + 4.0;
        let _ = write!(
            s,
            "<rect x='{l}' y='{:.1}' width='12' height='3' fill='{c}'/><text x='{}' y='{:.1}'>{}</text>",
            ly - 4.0,
            l + 18.0,
            ly,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// 1, 2 or 5 times a power of ten, at or above `v` (1 for nothing).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn short(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_plots() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert_eq!(nice_ceiling(0.04), 0.05);
        let mut lines = BTreeMap::new();
        lines.insert("delivery p99".to_owned(), vec![1.0, 3.0, 2.0]);
        let svg = svg_plot(&[1.0, 2.0, 3.0], &lines, "ms");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("polyline") && svg.contains("delivery p99"));
        let mut r = Report::new("chat", "http://127.0.0.1:1");
        r.series.t = vec![1.0, 2.0, 3.0];
        r.series.latency_ms = lines;
        r.counters.insert("sent".into(), 5);
        let html = r.html();
        assert!(html.contains("Latency over time") && html.contains("sent"));
        assert!(!html.contains("Throughput"), "empty plots are left out");
    }
}
