//! What a request for HLS asks for besides its path: the `Range` header of a segment and the
//! `_HLS_msn`/`_HLS_part` blocking-reload parameters of a low-latency playlist. Pure, so the
//! fuzz targets (`tests/fuzz/`) reach them without the HTTP stack.

/// A single `bytes=` range within `len`, as inclusive (start, end). Multiple ranges and
/// unsatisfiable ones are `None`.
pub fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?.trim();
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 {
                return None;
            }
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().ok()?, len - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(len - 1)),
    };
    (start <= end && start < len).then_some((start, end))
}

/// `_HLS_msn` and `_HLS_part` from the query: `None` when present but not numbers, or a part
/// without a segment.
pub fn blocking_query(query: &str) -> Option<(Option<u64>, Option<u64>)> {
    let (mut msn, mut part) = (None, None);
    for kv in query.split('&') {
        if let Some(v) = kv.strip_prefix("_HLS_msn=") {
            msn = Some(v.parse().ok()?);
        } else if let Some(v) = kv.strip_prefix("_HLS_part=") {
            part = Some(v.parse().ok()?);
        }
    }
    if part.is_some() && msn.is_none() {
        return None;
    }
    Some((msn, part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_queries() {
        assert_eq!(blocking_query(""), Some((None, None)));
        assert_eq!(
            blocking_query("vid=abc&_HLS_msn=12"),
            Some((Some(12), None))
        );
        assert_eq!(
            blocking_query("_HLS_msn=12&_HLS_part=2"),
            Some((Some(12), Some(2)))
        );
        assert_eq!(blocking_query("_HLS_part=2"), None);
        assert_eq!(blocking_query("_HLS_msn=-1"), None);
        assert_eq!(blocking_query("_HLS_msn=x&_HLS_part=1"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-1", 1000), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
        assert_eq!(parse_range("bytes=-0", 1000), None);
    }
}
