//! The statistics every scenario reports: latency percentiles from an HDR histogram (in
//! microseconds, 3 significant digits) and sequence sets for counting what was expected,
//! received, lost and duplicated.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency recorded: one hour, in microseconds. Larger values are clamped to it.
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency histogram in microseconds.
#[derive(Clone)]
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> Result<Self, hdrhistogram::CreationError> {
        Histogram::new_with_bounds(1, MAX_MICROS, 3).map(Self)
    }

    pub fn record_micros(&mut self, micros: u64) {
        self.0.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn record(&mut self, d: std::time::Duration) {
        self.record_micros(u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS));
    }

    pub fn add(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn reset(&mut self) {
        self.0.reset();
    }

    /// The value at quantile `q` (0..=1) in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn summary(&self) -> Summary {
        if self.0.is_empty() {
            return Summary::default();
        }
        Summary {
            count: self.0.len(),
            mean_ms: self.0.mean() / 1000.0,
            p50_ms: self.quantile_ms(0.50),
            p90_ms: self.quantile_ms(0.90),
            p99_ms: self.quantile_ms(0.99),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A set of sequence numbers 0, 1, 2, … (dense, so a bitset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    words: Vec<u64>,
    len: u64,
}

/// Sequence numbers above this are refused (a corrupt or foreign message), so a bad frame
/// cannot make a set allocate without bound: 2^26 messages per sender.
pub const MAX_SEQ: u64 = 1 << 26;

impl SeqSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `seq`; true if it was not there yet. Out-of-range numbers are refused (false).
    pub fn insert(&mut self, seq: u64) -> bool {
        if seq >= MAX_SEQ {
            return false;
        }
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let fresh = self.words[w] & (1 << b) == 0;
        self.words[w] |= 1 << b;
        if fresh {
            self.len += 1;
        }
        fresh
    }

    pub fn contains(&self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        self.words.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many of `self` are missing from `other`.
    pub fn missing_from(&self, other: &SeqSet) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let o = other.words.get(i).copied().unwrap_or(0);
                u64::from((w & !o).count_ones())
            })
            .sum()
    }
}

/// What one receiver saw of each sender's numbered messages.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub seen: std::collections::HashMap<u32, SeqSet>,
    pub duplicates: u64,
    pub received: u64,
}

impl Ledger {
    /// Records message `seq` from `sender`; a second copy counts as a duplicate.
    pub fn record(&mut self, sender: u32, seq: u64) {
        self.received += 1;
        if !self.seen.entry(sender).or_default().insert(seq) {
            self.duplicates += 1;
        }
    }

    /// Of the messages in `expected` (per sender), how many this receiver never got.
    pub fn lost(&self, expected: &[(u32, &SeqSet)]) -> u64 {
        let empty = SeqSet::new();
        expected
            .iter()
            .map(|(sender, want)| want.missing_from(self.seen.get(sender).unwrap_or(&empty)))
            .sum()
    }
}

/// Totals of a delivery check over all receivers.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Delivery {
    /// Sum over receivers of the messages each should have got.
    pub expected: u64,
    /// Message frames received (duplicates included).
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
}

impl Delivery {
    pub fn add_receiver(&mut self, ledger: &Ledger, expected: &[(u32, &SeqSet)]) {
        self.expected += expected.iter().map(|(_, s)| s.len()).sum::<u64>();
        self.received += ledger.received;
        self.duplicates += ledger.duplicates;
        self.lost += ledger.lost(expected);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = Latencies::new().unwrap();
        for ms in 1..=1000u64 {
            h.record_micros(ms * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        // 3 significant digits: within 0.1% of the exact order statistic.
        assert!((s.p50_ms - 500.0).abs() <= 0.5, "{s:?}");
        assert!((s.p90_ms - 900.0).abs() <= 0.9, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.max_ms - 1000.0).abs() <= 1.0, "{s:?}");
        assert!((s.mean_ms - 500.5).abs() <= 0.5, "{s:?}");
    }

    #[test]
    fn a_tail_shows_in_p99_not_p50() {
        let mut h = Latencies::new().unwrap();
        for _ in 0..980 {
            h.record_micros(2_000);
        }
        for _ in 0..20 {
            h.record_micros(250_000);
        }
        let s = h.summary();
        assert!((s.p50_ms - 2.0).abs() < 0.01, "{s:?}");
        assert!((s.p90_ms - 2.0).abs() < 0.01, "{s:?}");
        assert!((s.p99_ms - 250.0).abs() < 0.3, "{s:?}");
    }

    #[test]
    fn empty_and_merged_histograms() {
        assert_eq!(Latencies::new().unwrap().summary(), Summary::default());
        let mut a = Latencies::new().unwrap();
        let mut b = Latencies::new().unwrap();
        a.record(std::time::Duration::from_millis(1));
        b.record(std::time::Duration::from_millis(3));
        b.record_micros(0); // clamped to 1 µs, still counted
        a.add(&b);
        assert_eq!(a.len(), 3);
        assert!((a.summary().max_ms - 3.0).abs() < 0.01);
    }

    #[test]
    fn seq_sets_count_and_compare() {
        let mut s = SeqSet::new();
        assert!(s.insert(0));
        assert!(s.insert(130));
        assert!(!s.insert(130));
        assert!(!s.insert(MAX_SEQ));
        assert_eq!(s.len(), 2);
        assert!(s.contains(130) && !s.contains(129) && !s.contains(10_000));
        let mut all = SeqSet::new();
        for i in 0..200 {
            all.insert(i);
        }
        assert_eq!(all.missing_from(&s), 198);
        assert_eq!(s.missing_from(&all), 0);
    }

    #[test]
    fn loss_and_duplicates_per_receiver() {
        // Two senders; sender 1 had 0..10 accepted, sender 2 had 0..5.
        let mut acked1 = SeqSet::new();
        let mut acked2 = SeqSet::new();
        (0..10).for_each(|i| {
            acked1.insert(i);
        });
        (0..5).for_each(|i| {
            acked2.insert(i);
        });
        let expected = [(1u32, &acked1), (2u32, &acked2)];

        // Receiver A got everything, message 3 of sender 1 twice.
        let mut a = Ledger::default();
        (0..10).for_each(|i| a.record(1, i));
        a.record(1, 3);
        (0..5).for_each(|i| a.record(2, i));
        // Receiver B missed sender 1's 7 and 8 and all of sender 2, and got one message that
        // was never acknowledged (seq 11), which is neither loss nor duplicate.
        let mut b = Ledger::default();
        (0..10)
            .filter(|i| *i != 7 && *i != 8)
            .for_each(|i| b.record(1, i));
        b.record(1, 11);

        let mut d = Delivery::default();
        d.add_receiver(&a, &expected);
        d.add_receiver(&b, &expected);
        assert_eq!(
            d,
            Delivery {
                expected: 30,
                received: 16 + 9,
                lost: 7,
                duplicates: 1
            }
        );
    }
}
