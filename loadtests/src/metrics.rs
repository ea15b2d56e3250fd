//! The live side of a run: named latencies, counters, gauges and tallies that the scenario's
//! tasks update, and a ticker that every second turns them into a point of each time series
//! and a progress line.
//!
//! Handles are registered once at setup and held by the tasks (`Arc`), so the hot path is an
//! atomic add or an uncontended lock, never a name lookup.

use std::{
    collections::BTreeMap,
    io::{IsTerminal, Write},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::stats::{Latencies, Summary};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Per-second points of one latency.
#[derive(Debug, Clone, Copy, Default)]
pub struct LatPoint {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub struct Latency {
    pub name: String,
    state: Mutex<LatState>,
}

struct LatState {
    total: Latencies,
    window: Latencies,
    points: Vec<LatPoint>,
}

impl Latency {
    pub fn record(&self, d: Duration) {
        let mut s = lock(&self.state);
        s.total.record(d);
        s.window.record(d);
    }

    pub fn record_micros(&self, micros: u64) {
        let mut s = lock(&self.state);
        s.total.record_micros(micros);
        s.window.record_micros(micros);
    }

    /// Adds a batch recorded elsewhere (e.g. a task's local histogram) to the total and the
    /// current second.
    pub fn add(&self, h: &Latencies) {
        let mut s = lock(&self.state);
        s.total.add(h);
        s.window.add(h);
    }

    pub fn summary(&self) -> Summary {
        lock(&self.state).total.summary()
    }

    fn tick(&self) -> LatPoint {
        let mut s = lock(&self.state);
        let w = &s.window;
        let p = LatPoint {
            count: w.len(),
            p50_ms: w.quantile_ms(0.5),
            p99_ms: w.quantile_ms(0.99),
            max_ms: w.quantile_ms(1.0),
        };
        s.window.reset();
        s.points.push(p);
        p
    }
}

/// What a counter counts: shown as a rate, in units or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
}

pub struct Counter {
    pub name: String,
    pub unit: Unit,
    /// Shown on the progress line as a rate.
    pub show: bool,
    value: AtomicU64,
    last: AtomicU64,
    rates: Mutex<Vec<f64>>,
}

impl Counter {
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    fn tick(&self, secs: f64) -> f64 {
        let v = self.get();
        let last = self.last.swap(v, Ordering::Relaxed);
        let rate = v.saturating_sub(last) as f64 / secs.max(1e-3);
        lock(&self.rates).push(rate);
        rate
    }
}

/// A level (connections open, viewers playing). Remembers its highest value.
pub struct Gauge {
    pub name: String,
    value: AtomicI64,
    max: AtomicI64,
    points: Mutex<Vec<f64>>,
}

impl Gauge {
    pub fn add(&self, n: i64) {
        let v = self.value.fetch_add(n, Ordering::Relaxed) + n;
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    pub fn set(&self, v: i64) {
        self.value.store(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> i64 {
        self.max.load(Ordering::Relaxed)
    }

    fn tick(&self) -> i64 {
        let v = self.get();
        lock(&self.points).push(v as f64);
        v
    }
}

/// Counts by label: disconnect reasons, HTTP statuses, rejection codes.
pub struct Tally {
    pub name: String,
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub fn add(&self, label: impl Into<String>) {
        *lock(&self.counts).entry(label.into()).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.counts).clone()
    }

    pub fn total(&self) -> u64 {
        lock(&self.counts).values().sum()
    }
}

#[derive(Default)]
struct Registry {
    latencies: Vec<Arc<Latency>>,
    counters: Vec<Arc<Counter>>,
    gauges: Vec<Arc<Gauge>>,
    tallies: Vec<Arc<Tally>>,
    /// Seconds since the start, one per tick.
    times: Vec<f64>,
    /// The latency whose current p99 the progress line shows.
    headline: Option<Arc<Latency>>,
}

/// Every metric of a run. Scenarios of a `mix` share one, with prefixed names.
pub struct Recorder {
    start: Mutex<Instant>,
    reg: Mutex<Registry>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            start: Mutex::new(Instant::now()),
            reg: Mutex::new(Registry::default()),
        }
    }

    /// Series time starts now (after a scenario's setup).
    pub fn restart_clock(&self) {
        *lock(&self.start) = Instant::now();
    }

    pub fn latency(&self, name: &str) -> anyhow::Result<Arc<Latency>> {
        let l = Arc::new(Latency {
            name: name.to_owned(),
            state: Mutex::new(LatState {
                total: Latencies::new()?,
                window: Latencies::new()?,
                points: Vec::new(),
            }),
        });
        let mut reg = lock(&self.reg);
        if reg.headline.is_none() {
            reg.headline = Some(l.clone());
        }
        reg.latencies.push(l.clone());
        Ok(l)
    }

    /// Makes `l` the latency shown on the progress line.
    pub fn headline(&self, l: &Arc<Latency>) {
        lock(&self.reg).headline = Some(l.clone());
    }

    pub fn counter(&self, name: &str, unit: Unit, show: bool) -> Arc<Counter> {
        let c = Arc::new(Counter {
            name: name.to_owned(),
            unit,
            show,
            value: AtomicU64::new(0),
            last: AtomicU64::new(0),
            rates: Mutex::new(Vec::new()),
        });
        lock(&self.reg).counters.push(c.clone());
        c
    }

    pub fn gauge(&self, name: &str) -> Arc<Gauge> {
        let g = Arc::new(Gauge {
            name: name.to_owned(),
            value: AtomicI64::new(0),
            max: AtomicI64::new(0),
            points: Mutex::new(Vec::new()),
        });
        lock(&self.reg).gauges.push(g.clone());
        g
    }

    pub fn tally(&self, name: &str) -> Arc<Tally> {
        let t = Arc::new(Tally {
            name: name.to_owned(),
            counts: Mutex::new(BTreeMap::new()),
        });
        lock(&self.reg).tallies.push(t.clone());
        t
    }

    /// Closes the current second: one point per series. Returns the progress line.
    pub fn tick(&self, interval: f64) -> String {
        let mut reg = lock(&self.reg);
        let t = lock(&self.start).elapsed().as_secs_f64();
        reg.times.push(t);
        let mut line = format!("[{t:>5.0}s]");
        for g in &reg.gauges {
            let v = g.tick();
            line.push_str(&format!(" {} {v}", g.name));
        }
        for c in &reg.counters {
            let r = c.tick(interval);
            if c.show {
                line.push_str(&format!(" | {} {}", c.name, fmt_rate(r, c.unit)));
            }
        }
        let headline = reg.headline.as_ref().map(|h| h.name.clone());
        for l in &reg.latencies {
            let p = l.tick();
            if Some(&l.name) == headline.as_ref() {
                line.push_str(&format!(" | {} p99 {:.1} ms", l.name, p.p99_ms));
            }
        }
        line
    }

    /// Everything recorded so far, for the report.
    pub fn snapshot(&self) -> Snapshot {
        let reg = lock(&self.reg);
        let mut s = Snapshot {
            times: reg.times.clone(),
            ..Snapshot::default()
        };
        for l in &reg.latencies {
            let st = lock(&l.state);
            s.latencies
                .insert(l.name.clone(), (st.total.summary(), st.points.clone()));
        }
        for c in &reg.counters {
            s.counters
                .insert(c.name.clone(), (c.get(), c.unit, lock(&c.rates).clone()));
        }
        for g in &reg.gauges {
            s.gauges
                .insert(g.name.clone(), (g.get(), g.max(), lock(&g.points).clone()));
        }
        for t in &reg.tallies {
            s.tallies.insert(t.name.clone(), t.snapshot());
        }
        s
    }
}

#[derive(Default, Debug, Clone)]
pub struct Snapshot {
    pub times: Vec<f64>,
    pub latencies: BTreeMap<String, (Summary, Vec<LatPoint>)>,
    pub counters: BTreeMap<String, (u64, Unit, Vec<f64>)>,
    pub gauges: BTreeMap<String, (i64, i64, Vec<f64>)>,
    pub tallies: BTreeMap<String, BTreeMap<String, u64>>,
}

pub fn fmt_rate(r: f64, unit: Unit) -> String {
    match unit {
        Unit::Count if r >= 10_000.0 => format!("{:.1}k/s", r / 1000.0),
        Unit::Count => format!("{r:.0}/s"),
        Unit::Bytes => format!("{}/s", fmt_bytes(r)),
    }
}

pub fn fmt_bytes(b: f64) -> String {
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

/// Ticks `rec` every second until `stop` turns true, printing the progress line to stderr
/// (in place on a terminal, every fifth second otherwise) unless `quiet`.
pub fn spawn_ticker(
    rec: Arc<Recorder>,
    quiet: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        let mut last = Instant::now();
        let mut n = 0u64;
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            let secs = last.elapsed().as_secs_f64();
            last = Instant::now();
            let line = rec.tick(secs);
            n += 1;
            if quiet {
                continue;
            }
            let mut err = std::io::stderr();
            if tty {
                let _ = write!(err, "\r\x1b[2K{line}");
                let _ = err.flush();
            } else if n.is_multiple_of(5) {
                let _ = writeln!(err, "{line}");
            }
        }
        if !quiet && tty {
            let _ = writeln!(std::io::stderr());
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ticks_make_rates_and_windows() {
        let rec = Recorder::new();
        let c = rec.counter("sent", Unit::Count, true);
        let l = rec.latency("delivery").unwrap();
        let g = rec.gauge("conns");
        c.add(100);
        l.record(Duration::from_millis(5));
        g.add(3);
        g.add(-1);
        let line = rec.tick(1.0);
        assert!(
            line.contains("conns 2") && line.contains("sent 100/s"),
            "{line}"
        );
        c.add(50);
        rec.tick(0.5);
        let s = rec.snapshot();
        assert_eq!(s.counters["sent"].0, 150);
        assert_eq!(s.counters["sent"].2, vec![100.0, 100.0]);
        let (sum, points) = &s.latencies["delivery"];
        assert_eq!(sum.count, 1);
        assert_eq!(points.len(), 2);
        assert_eq!(points[1].count, 0, "the window resets every tick");
        assert_eq!(s.gauges["conns"].1, 3, "max");
    }
}
